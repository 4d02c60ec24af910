"""The books' writes, each idempotent: insert-if-absent on the unique keys, so a replay, a
redelivery or two replicas writing the same thing leave one row.

* ``journal``: a batch of trade lines (``journal.rows_for``) in one transaction.
* ``upsert_fill``, ``insert_order``, ``record_audit``, ``set_watermark``: for the reconciler
  and the rebuild (corrections of an existing row go through ``correct_order``, which writes
  the audit row in the same transaction).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite

from shared.books.journal import JournalRows
from shared.books.models import Audit, Fill, Order, Watermark

ORDERS: Table = Order.__table__  # type: ignore[assignment]
FILLS: Table = Fill.__table__  # type: ignore[assignment]
AUDIT: Table = Audit.__table__  # type: ignore[assignment]
WATERMARKS: Table = Watermark.__table__  # type: ignore[assignment]


def _insert(conn: Connection, table: Table) -> Any:
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


def insert_absent(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows``, skipping any that would break a unique key; how many were new."""
    if not rows:
        return 0
    # one statement, compiled once and cached, run for every row (executemany): a multi-row
    # VALUES statement is compiled anew for each batch, which costs more than the writes
    stmt = _insert(conn, table).on_conflict_do_nothing()
    return max(0, conn.execute(stmt, [dict(r) for r in rows]).rowcount or 0)


def journal(engine: Engine, rows: JournalRows) -> int:
    """Write one batch of journal rows in one transaction; how many orders were new."""
    with engine.begin() as conn:
        return write_rows(conn, rows)


def write_rows(conn: Connection, rows: JournalRows) -> int:
    new = insert_absent(conn, ORDERS, rows.orders)
    for order in rows.orders:
        if order["client_order_id"] and new < len(rows.orders):
            # the reconciler may have found this order at the exchange first (no intent id)
            conn.execute(update(ORDERS).where(
                ORDERS.c.exchange == order["exchange"],
                ORDERS.c.client_order_id == order["client_order_id"],
                ORDERS.c.intent_id.is_(None)).values(intent_id=order["intent_id"]))
    if rows.fills:
        ids = order_ids(conn, [f["intent_id"] for f in rows.fills])
        insert_absent(conn, FILLS, [{k: v for k, v in f.items() if k != "intent_id"}
                                    | {"order_ref": ids.get(f["intent_id"])} for f in rows.fills])
    return new


def order_ids(conn: Connection, intent_ids: Sequence[str]) -> dict[str, int]:
    """Row id of each intent's order."""
    found: dict[str, int] = {}
    for start in range(0, len(intent_ids), 500):
        chunk = list(intent_ids[start:start + 500])
        for row in conn.execute(select(ORDERS.c.intent_id, ORDERS.c.id)
                                .where(ORDERS.c.intent_id.in_(chunk))):
            found[row.intent_id] = row.id
    return found


def insert_order(conn: Connection, values: dict[str, Any]) -> bool:
    """One order (e.g. an external one the reconciler found); False if it was there."""
    return insert_absent(conn, ORDERS, [values]) == 1


def upsert_fill(conn: Connection, values: dict[str, Any]) -> bool:
    """One exchange trade, once per (exchange, trade id); False if it was there."""
    return insert_absent(conn, FILLS, [values]) == 1


def record_audit(conn: Connection, *, user_id: str, exchange: str, kind: str,
                 before: dict[str, Any] | None, after: dict[str, Any] | None, note: str = "",
                 client_order_id: str | None = None, order_id: str | None = None,
                 dedup_key: str | None = None, at: datetime | None = None) -> bool:
    """One audit row; with ``dedup_key`` written once however often it is recorded."""
    row = {"at": at or datetime.now(UTC), "user_id": user_id, "exchange": exchange,
           "kind": kind, "client_order_id": client_order_id, "order_id": order_id,
           "before": before, "after": after, "note": note[:500], "dedup_key": dedup_key}
    return insert_absent(conn, AUDIT, [row]) == 1


def correct_order(conn: Connection, order_pk: int, changes: dict[str, Any], *, kind: str,
                  note: str, dedup_key: str | None = None) -> bool:
    """Apply ``changes`` to one order and audit it (before/after) in the caller's transaction.
    No-op (False) when the row already has those values."""
    row = conn.execute(select(ORDERS).where(ORDERS.c.id == order_pk)).mappings().one()
    before = {k: row[k] for k in changes}
    if all(before[k] == v for k, v in changes.items()):
        return False
    conn.execute(update(ORDERS).where(ORDERS.c.id == order_pk)
                 .values(**changes, updated_at=datetime.now(UTC)))
    record_audit(conn, user_id=row["user_id"], exchange=row["exchange"], kind=kind,
                 before=_json(before), after=_json(changes), note=note,
                 client_order_id=row["client_order_id"], order_id=row["order_id"],
                 dedup_key=dedup_key)
    return True


def set_watermark(conn: Connection, name: str, value: str, at: datetime | None = None) -> None:
    """Set ``name`` to ``value`` (insert or overwrite)."""
    row = {"name": name, "value": value, "updated_at": at or datetime.now(UTC)}
    stmt = _insert(conn, WATERMARKS)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"],
                                            set_={"value": stmt.excluded.value,
                                                  "updated_at": stmt.excluded.updated_at}), row)


def _json(values: dict[str, Any]) -> dict[str, Any]:
    """Decimals and datetimes as text (the audit columns are JSON)."""
    return {k: (format(v, "f") if hasattr(v, "as_tuple") else
                v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items()}
