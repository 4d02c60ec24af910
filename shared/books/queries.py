"""The books' read API: what the gateway, the CLI, positions and the reconciler read.

Every function takes a ``Session`` (``Books.session()``); rows come back as ORM objects
detached from it (``expire_on_commit=False``), safe to read after the session closes.
History pages are newest first, by (time, row id): a page ends with a :class:`Cursor` that
starts the next one, stable while new rows arrive.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from shared.books.models import Audit, Fill, Order, Watermark

MAX_PAGE = 1000


class Books:
    """An engine and a session factory (one per process)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._schema_ok = False

    def ensure_schema(self) -> None:
        """Migrate to head once per process (idempotent, locked: safe beside the books
        service), so a reader started before the books service finds the tables. Raises
        ``BooksDatabaseError`` (one line, URL masked) when the database can't be used."""
        if not self._schema_ok:
            from shared.books.db import migrate  # Alembic only where it is needed

            migrate(self.engine)
            self._schema_ok = True

    def session(self) -> Session:
        return self._sessions()


@dataclass(frozen=True)
class Cursor:
    """Where a newest-first page ended: the next page has rows strictly older than this."""

    at: datetime
    id: int

    def text(self) -> str:
        return f"{self.at.isoformat()}|{self.id}"

    @classmethod
    def parse(cls, value: str) -> Cursor:
        """From ``text()``; raises ValueError with a readable message."""
        at, sep, row = value.rpartition("|")
        try:
            if not sep:
                raise ValueError
            return cls(datetime.fromisoformat(at), int(row))
        except ValueError:
            raise ValueError(f"not a page cursor: {value!r} (pass back the one a page "
                             "returned)") from None


@dataclass(frozen=True)
class Page:
    orders: list[Order]
    next: Cursor | None  # None: this was the last page


def trades(session: Session, *, user_id: str | None = None, limit: int = 100,
           before: Cursor | None = None, since: datetime | None = None,
           until: datetime | None = None, exchange: str | None = None,
           mode: str | None = None) -> Page:
    """Orders (the trade history), newest first; ``user_id`` None = everyone's."""
    limit = max(1, min(limit, MAX_PAGE))
    q = select(Order)
    if user_id is not None:
        q = q.where(Order.user_id == user_id)
    if exchange is not None:
        q = q.where(Order.exchange == exchange)
    if mode is not None:
        q = q.where(Order.mode == mode)
    if since is not None:
        q = q.where(Order.created_at >= since)
    if until is not None:
        q = q.where(Order.created_at < until)
    if before is not None:
        q = q.where(or_(Order.created_at < before.at,
                        and_(Order.created_at == before.at, Order.id < before.id)))
    rows = list(session.scalars(q.order_by(Order.created_at.desc(), Order.id.desc())
                                .limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, Cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)


def user_known(session: Session, user_id: str) -> bool:
    """Whether the books hold anything of ``user_id`` (an order or a fill)."""
    if session.scalar(select(Order.id).where(Order.user_id == user_id).limit(1)) is not None:
        return True
    return session.scalar(select(Fill.id).where(Fill.user_id == user_id).limit(1)) is not None


def order_by_intent(session: Session, intent_id: str) -> Order | None:
    return session.scalar(select(Order).where(Order.intent_id == intent_id))


def order_by_client_id(session: Session, exchange: str, client_order_id: str) -> Order | None:
    return session.scalar(select(Order).where(Order.exchange == exchange,
                                              Order.client_order_id == client_order_id))


def order_by_exchange_id(session: Session, exchange: str, order_id: str) -> Order | None:
    return session.scalar(select(Order).where(Order.exchange == exchange,
                                              Order.order_id == order_id))


def orders(session: Session, *, user_id: str | None = None, exchange: str | None = None,
           symbol: str | None = None, mode: str | None = None,
           statuses: Sequence[str] | None = None, since: datetime | None = None) -> list[Order]:
    """Orders matching every filter given, oldest first (what positions fold over)."""
    q = select(Order)
    for column, value in ((Order.user_id, user_id), (Order.exchange, exchange),
                          (Order.symbol, symbol), (Order.mode, mode)):
        if value is not None:
            q = q.where(column == value)
    if statuses is not None:
        q = q.where(Order.status.in_(list(statuses)))
    if since is not None:
        q = q.where(Order.created_at >= since)
    return list(session.scalars(q.order_by(Order.created_at, Order.id)))


def fills(session: Session, *, user_id: str | None = None, exchange: str | None = None,
          symbol: str | None = None, order_ref: int | None = None,
          since: datetime | None = None) -> list[Fill]:
    """Fills matching every filter given, oldest first."""
    q = select(Fill)
    for column, value in ((Fill.user_id, user_id), (Fill.exchange, exchange),
                          (Fill.symbol, symbol), (Fill.order_ref, order_ref)):
        if value is not None:
            q = q.where(column == value)
    if since is not None:
        q = q.where(Fill.at >= since)
    return list(session.scalars(q.order_by(Fill.at, Fill.id)))


def audit_rows(session: Session, *, user_id: str | None = None, exchange: str | None = None,
               kind: str | None = None, limit: int = 1000) -> list[Audit]:
    """Audit rows, newest first."""
    q = select(Audit)
    for column, value in ((Audit.user_id, user_id), (Audit.exchange, exchange),
                          (Audit.kind, kind)):
        if value is not None:
            q = q.where(column == value)
    return list(session.scalars(q.order_by(Audit.at.desc(), Audit.id.desc()).limit(limit)))


def watermark(session: Session, name: str) -> str | None:
    return session.scalar(select(Watermark.value).where(Watermark.name == name))


def watermarks(session: Session, prefix: str = "") -> dict[str, str]:
    q = select(Watermark.name, Watermark.value)
    if prefix:
        q = q.where(Watermark.name.startswith(prefix))
    return {row.name: row.value for row in session.execute(q)}


def users(session: Session) -> list[str]:
    """Every user with an order in the books."""
    return list(session.scalars(select(Order.user_id).distinct().order_by(Order.user_id)))


def counts(session: Session) -> dict[str, int]:
    """Rows per table (for `piggy books status` and the tests)."""
    return {name: session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (("orders", Order), ("fills", Fill), ("audit", Audit),
                                ("watermarks", Watermark))}
