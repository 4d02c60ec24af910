"""The books' tables, SQLAlchemy 2 typed declarative.

Money is :class:`Money`: exact decimals on every database (canonical decimal strings on
SQLite, which has no decimal type; ``NUMERIC`` on PostgreSQL). Times are :class:`UtcDateTime`:
aware UTC datetimes in and out (SQLite keeps no time zone: stored as naive UTC).

Idempotency lives in the unique keys: an order is one row per ``intent_id`` (the product's
orders) and per ``(exchange, client_order_id)`` / ``(exchange, order_id)`` when present; a
fill is one row per ``(exchange, trade_id)``; an audit row with a ``dedup_key`` is written
once. Every writer upserts on those keys (``shared/books/journal.py``), so a replay, a
redelivery or two replicas give the same rows.

Who writes what:
* ``orders``: the journal (origin ``product``, from the trade lines), the reconciler (origin
  ``external`` for orders placed outside CryptoPiggy, ``intent_id`` NULL; corrections of the
  product's rows, each with an ``audit`` row).
* ``fills``: one row per exchange trade. The journal writes the PAPER fill of each paper order
  (``trade_id`` = ``paper-<intent_id>``); LIVE trades come with the exchange's own trade ids
  from the reconciler (origin ``reconcile``) or ``piggy books rebuild --from-exchange``
  (origin ``rebuild``). An order's totals (``filled``/``cost``/``fee``) are on its row either way.
* ``audit``: every correction, with the row before and after.
* ``watermarks``: name → value (e.g. how far the trade stream is journaled, the reconciler's
  last look per user and exchange).
"""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine


class Money(TypeDecorator[Decimal]):
    """An exact decimal: canonical decimal text on SQLite, ``NUMERIC`` (arbitrary precision)
    on PostgreSQL. Values come back normalized (``Decimal("2.5")``, never ``2.50000``), so the
    same amount reads the same on both."""

    impl = String(64)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(asdecimal=True))
        return dialect.type_descriptor(String(64))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        if not amount.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        return canonical(amount) if dialect.name != "postgresql" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return normalized(Decimal(str(value)))


def normalized(amount: Decimal) -> Decimal:
    """``amount`` without trailing zeros, never in exponent form for whole numbers (``1E+1``
    is ``10``), and zero as ``0``."""
    if amount == 0:
        return Decimal(0)
    n = amount.normalize()
    exponent = n.as_tuple().exponent
    return n.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else n


def canonical(amount: Decimal) -> str:
    """The text SQLite stores: plain notation, no trailing zeros (``0.00000001``, ``2``)."""
    return format(normalized(amount), "f")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes. PostgreSQL: ``timestamptz``; SQLite: naive UTC text (sortable)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"not a datetime: {value!r}")
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        utc = aware.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Origin(StrEnum):
    """Where a row came from."""

    PRODUCT = "product"  # the product placed it (journaled from the trade lines)
    EXTERNAL = "external"  # placed outside CryptoPiggy, found by the reconciler
    RECONCILE = "reconcile"  # a fill the reconciler fetched from the exchange
    REBUILD = "rebuild"  # restored by `piggy books rebuild --from-exchange`


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {Decimal: Money(), datetime: UtcDateTime()}


class Order(Base):
    """One order: a product intent that reached a decision (filled, rejected, paper...) or an
    order found at the exchange. Amounts are the exchange's (or the paper fill's) totals."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("exchange", "client_order_id", name="uq_orders_exchange_client_order_id"),
        UniqueConstraint("exchange", "order_id", name="uq_orders_exchange_order_id"),
        Index("ix_orders_user_created", "user_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    user_id: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(32))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    mode: Mapped[str] = mapped_column(String(8))  # LIVE | PAPER | NONE (refused before a mode)
    origin: Mapped[str] = mapped_column(String(16), default=Origin.PRODUCT.value)
    amount_usd: Mapped[Decimal | None]  # what was asked (None for an external order)
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(String(128))  # the exchange's order id
    status: Mapped[str] = mapped_column(String(16))
    filled: Mapped[Decimal] = mapped_column(default=Decimal(0))
    cost: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fee: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fee_currency: Mapped[str] = mapped_column(String(16), default="")
    price: Mapped[Decimal | None]
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(64), default="")  # api, strategy:<name>, cli...
    route: Mapped[str] = mapped_column(String(16), default="")  # gateway | direct | paper
    correlation_id: Mapped[str] = mapped_column(String(64), default="")
    event_id: Mapped[str] = mapped_column(String(64), default="")  # the trade line's event id
    created_at: Mapped[datetime]  # when the outcome was logged (the trade line's time)
    updated_at: Mapped[datetime]
    stream_id: Mapped[str] = mapped_column(String(32), default="")  # the trade line's entry id


class Fill(Base):
    """One exchange trade (or the paper fill of a paper order)."""

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("exchange", "trade_id", name="uq_fills_exchange_trade_id"),
        Index("ix_fills_user_at", "user_id", "at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    exchange: Mapped[str] = mapped_column(String(32))
    trade_id: Mapped[str] = mapped_column(String(128))
    order_ref: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"),
                                                  index=True)
    order_id: Mapped[str | None] = mapped_column(String(128))
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(8))
    mode: Mapped[str] = mapped_column(String(8), default="LIVE")
    price: Mapped[Decimal]
    amount: Mapped[Decimal]
    cost: Mapped[Decimal]
    fee: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fee_currency: Mapped[str] = mapped_column(String(16), default="")
    at: Mapped[datetime]
    origin: Mapped[str] = mapped_column(String(16), default=Origin.PRODUCT.value)


class Audit(Base):
    """One correction of the books (by the reconciler or an operator), before and after.
    ``dedup_key`` (when given) makes the same correction by two replicas one row."""

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_user_at", "user_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    user_id: Mapped[str] = mapped_column(String(64))
    exchange: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))  # missing_fill, external_order, mismatch...
    client_order_id: Mapped[str | None] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(String(128))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(500), default="")
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class Watermark(Base):
    """A named position (a stream entry id, a time): how far something has been done."""

    __tablename__ = "watermarks"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime]
