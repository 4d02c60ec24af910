"""A reconciliation report applied to the books, and the books as the reconciler reads them.

Everything here is one SQL transaction per call (blocking: run it in a thread) and
idempotent: orders and fills are inserted if absent on their unique keys, a correction goes
through ``store.correct_order`` (a no-op when the row already holds the exchange's numbers),
and every audit row carries a ``dedup_key`` naming the finding and the exchange's numbers —
so two books replicas, a retried round or ``piggy reconcile`` run beside the service write
each correction once.
"""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, select

from services.books.drift import Baseline
from services.books.findings import Finding, JournalOrder, Kind, OrderValues, Report
from shared.books import store
from shared.books.models import Fill, Order, Origin
from shared.events import TradeStatus

LIVE = "LIVE"


def watermark_name(user_id: str, exchange: str) -> str:
    return f"reconcile:{exchange}:{user_id}"


def baseline_name(user_id: str, exchange: str) -> str:
    return f"reconcile:baseline:{exchange}:{user_id}"


def read_account(engine: Engine, user_id: str, exchange: str
                 ) -> tuple[list[JournalOrder], set[str], list[str], dict[str, str]]:
    """(LIVE rows, trade ids of the account's fills, the symbols it traded, watermarks)."""
    with engine.connect() as conn:
        rows = conn.execute(select(Order).where(Order.user_id == user_id,
                                                Order.exchange == exchange, Order.mode == LIVE)
                            .order_by(Order.created_at, Order.id)).mappings().all()
        trade_ids = set(conn.scalars(select(Fill.trade_id).where(Fill.user_id == user_id,
                                                                 Fill.exchange == exchange)))
        names = store.WATERMARKS.c.name
        marks = {r.name: r.value for r in conn.execute(
            select(names, store.WATERMARKS.c.value).where(
                (names == watermark_name(user_id, exchange))
                | names.startswith(baseline_name(user_id, exchange))))}
    journal = [JournalOrder(
        client_order_id=r["client_order_id"] or "", order_id=r["order_id"] or "",
        symbol=r["symbol"], side=r["side"], mode=r["mode"], status=r["status"],
        filled=r["filled"], cost=r["cost"], fee=r["fee"], fee_currency=r["fee_currency"],
        created_at=r["created_at"], origin=r["origin"], intent_id=r["intent_id"] or "")
        for r in rows]
    return journal, trade_ids, sorted({r.symbol for r in journal}), marks


def apply(engine: Engine, report: Report, *, origin: str = Origin.PRODUCT.value,
          fill_origin: str = Origin.RECONCILE.value, watermark: datetime | None = None,
          baseline: Baseline | None = None) -> dict[str, int]:
    """Write every correction of ``report`` (one transaction); how many rows each kind
    changed. ``origin``: the origin of the product's orders it records (``rebuild`` when
    restoring); ``watermark``: the moment the next round may start from."""
    changed = {k.value: 0 for k in Kind}
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for f in report.corrections():
            if _write(conn, report, f, origin, fill_origin, now):
                changed[f.kind.value] += 1
        if watermark is not None:
            store.set_watermark(conn, watermark_name(report.user_id, report.exchange),
                                watermark.isoformat(), now)
        if baseline is not None:
            prefix = baseline_name(report.user_id, report.exchange)
            for name, value in _baseline_rows(baseline, prefix).items():
                store.set_watermark(conn, name, value, now)
    return changed


def _write(conn: Connection, report: Report, f: Finding, origin: str, fill_origin: str,
           now: datetime) -> bool:
    if f.kind is Kind.MISSING_FILL:
        return _record_fill(conn, report, f, fill_origin, now)
    if f.kind in (Kind.MISSING_ORDER, Kind.EXTERNAL, Kind.DUPLICATE):
        assert f.order is not None
        kept = f.order.origin if f.kind is not Kind.MISSING_ORDER else origin
        if _has(conn, Order.order_id, report.exchange, f.order.order_id):
            return False
        store.insert_order(conn, _new_order(report, f, f.order, kept, now))
        return _audit(conn, report, f, now)
    pk = _row_pk(conn, report.exchange, f)
    if pk is None:
        return False
    if f.kind is Kind.ABSENT:
        changes: dict[str, Any] = {"status": TradeStatus.REJECTED.value}
    else:
        assert f.order is not None
        changes = _numbers(f.order)
    return store.correct_order(conn, pk, changes, kind=f.kind.value, note=f.note,
                               dedup_key=_dedup(report, f))


def _row_pk(conn: Connection, exchange: str, f: Finding) -> int | None:
    for column, value in ((Order.order_id, f.order_id), (Order.client_order_id,
                                                         f.client_order_id)):
        if value:
            pk = conn.scalar(select(Order.id).where(Order.exchange == exchange, column == value))
            if pk is not None:
                return int(pk)
    return None


def _numbers(o: OrderValues) -> dict[str, Any]:
    out: dict[str, Any] = {"status": o.status, "order_id": o.order_id, "filled": o.filled,
                           "cost": o.cost, "fee": o.fee, "fee_currency": o.fee_currency}
    if o.filled:
        out["price"] = o.cost / o.filled
    return out


def _new_order(report: Report, f: Finding, o: OrderValues, origin: str,
               now: datetime) -> dict[str, Any]:
    return {"intent_id": None, "user_id": report.user_id, "exchange": report.exchange,
            "symbol": o.symbol, "side": o.side, "mode": LIVE, "origin": origin,
            "amount_usd": None, "client_order_id": o.client_order_id or None,
            "reasons": [f.note[:300]], "source": "reconcile", "route": "",
            "correlation_id": "", "event_id": "", "created_at": o.created_at,
            "updated_at": now, "stream_id": "", **_numbers(o)}


def _record_fill(conn: Connection, report: Report, f: Finding, origin: str,
                 now: datetime) -> bool:
    fill = f.fill
    order_ref = conn.scalar(select(Order.id).where(Order.exchange == report.exchange,
                                                   Order.order_id == fill.order_id))
    values = {"exchange": report.exchange, "trade_id": fill.trade_id, "order_ref": order_ref,
              "order_id": fill.order_id or None, "client_order_id": fill.client_order_id,
              "user_id": report.user_id, "symbol": fill.symbol, "side": fill.side,
              "mode": LIVE, "price": fill.price, "amount": fill.amount, "cost": fill.cost,
              "fee": fill.fee, "fee_currency": fill.fee_currency, "at": fill.at,
              "origin": origin}
    if _has(conn, Fill.trade_id, report.exchange, fill.trade_id):
        return False
    store.upsert_fill(conn, values)
    return _audit(conn, report, f, now)


def _has(conn: Connection, column: Any, exchange: str, value: str) -> bool:
    """Whether the row is there already (asked first: an INSERT … ON CONFLICT DO NOTHING's
    rowcount is not reliable on every driver). A replica racing past this check still writes
    one row and one audit row: the unique keys and the audit's ``dedup_key`` hold."""
    table = column.class_
    return conn.scalar(select(table.id).where(table.exchange == exchange, column == value)
                       .limit(1)) is not None


def _audit(conn: Connection, report: Report, f: Finding, now: datetime) -> bool:
    store.record_audit(conn, user_id=report.user_id, exchange=report.exchange,
                       kind=f.kind.value, before=f.before, after=f.after, note=f.note,
                       client_order_id=f.client_order_id or None, order_id=f.order_id or None,
                       dedup_key=_dedup(report, f), at=now)
    return True


def _dedup(report: Report, f: Finding) -> str:
    """The same finding with the same numbers is one audit row, whoever records it."""
    what = json.dumps([f.kind.value, f.client_order_id, f.order_id, f.after], sort_keys=True)
    digest = hashlib.sha256(what.encode()).hexdigest()[:40]
    return f"{f.kind.value}:{report.exchange}:{digest}"


def _baseline_rows(baseline: Baseline, prefix: str) -> dict[str, str]:
    """A baseline as watermark rows (a value holds 128 characters): ``<prefix>`` → its time,
    ``<prefix>:<asset>`` → ``holding|net|gross``."""
    rows = {prefix: baseline.at.isoformat()}
    for asset in sorted(set(baseline.holdings) | set(baseline.net)):
        rows[f"{prefix}:{asset}"] = "|".join(decimal_text(part.get(asset, Decimal(0))) for part in (
            baseline.holdings, baseline.net, baseline.gross))
    return rows


def read_baseline(marks: dict[str, str], prefix: str) -> Baseline | None:
    """The baseline kept under ``prefix`` (None: none yet, or unreadable: a new one is taken)."""
    if prefix not in marks:
        return None
    parts: tuple[dict[str, Decimal], ...] = ({}, {}, {})
    try:
        at = datetime.fromisoformat(marks[prefix])
        for name, value in marks.items():
            if name.startswith(prefix + ":"):
                asset = name[len(prefix) + 1:]
                for part, amount in zip(parts, value.split("|"), strict=True):
                    part[asset] = Decimal(amount)
    except (ValueError, ArithmeticError):
        return None
    return Baseline(at, *parts)


def decimal_text(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"
