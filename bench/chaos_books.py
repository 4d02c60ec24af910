"""The end of a chaos run for the books: wait until the journal holds every trade line, run
one reconciliation round (as the books service would), and compare every LIVE journal row
with the exchange's own order.

The round runs in the driver's process against the stack's own state (its books database
under the state folder, its Redis, its vault key file), exactly as ``piggy reconcile`` does.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis.asyncio as aredis
from sqlalchemy import select

from bench.harness import LiveStack, pending_count
from piggy.stack import sandbox_urls
from services.books.reconciler import Reconciler
from shared import streams
from shared.books.db import make_engine
from shared.books.models import Order
from shared.books.settings import BooksSettings
from shared.exchanges import TEST_SYMBOLS, adapter
from shared.exchanges.budget import RateBudgetSettings
from shared.exchanges.gate import ExchangeGate
from shared.exchanges.pool import ExchangePool
from shared.settings import ExchangeSettings, ReconcileSettings, VaultSettings
from shared.vault import Vault, load_master_key

BOOKS_GROUP = "books"


@dataclass
class BooksCheck:
    """What the round found and wrote, and what still differs after it (should be nothing)."""

    counts: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    unsettled_before: int = 0  # LIVE rows unknown/rejected whose order the exchange holds
    live_rows: int = 0
    exchange_orders: int = 0
    differences: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"found": {k: n for k, n in self.counts.items() if n},
                "written": {k: n for k, n in self.written.items() if n},
                "unsettled_lines_the_exchange_filled": self.unsettled_before,
                "live_rows": self.live_rows, "exchange_orders": self.exchange_orders,
                "differences_after": len(self.differences), "errors": self.errors,
                "seconds": round(self.seconds, 1)}


async def wait_journaled(redis_url: str, timeout: float = 60.0) -> None:
    """Until the books group has read and acknowledged every trade line."""
    watch = aredis.from_url(redis_url, decode_responses=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            groups = {g["name"]: g for g in await watch.xinfo_groups(streams.TRADES)}
            group = groups.get(BOOKS_GROUP)
            if group is not None and not group.get("lag") and \
                    not await pending_count(watch, streams.TRADES, BOOKS_GROUP):
                return
            await asyncio.sleep(0.25)
        raise TimeoutError("the books did not journal every trade line in time")
    finally:
        await watch.aclose()


async def reconcile_and_compare(live: LiveStack, user: str, exchange: str) -> BooksCheck:
    began = time.monotonic()
    await wait_journaled(live.redis_url)
    home = live.stack.home
    engine = make_engine(BooksSettings(home=home).url())
    redis = aredis.from_url(live.redis_url, decode_responses=True)
    url = sandbox_urls(live.stack.sandbox_url)[f"PIGGY_{exchange.upper()}_URL"]
    exchanges = ExchangeSettings.model_validate({f"{exchange}_url": url})
    gate = ExchangeGate(redis, RateBudgetSettings(), exchanges.exchange_timeout_ms)  # nonces
    pool = ExchangePool(exchanges, Vault(redis, load_master_key(VaultSettings(home=home))),
                        gate=gate)
    check = BooksCheck()
    try:
        reconciler = Reconciler(engine, pool, ReconcileSettings(reconcile_absent_after_s=0))
        venue = adapter(exchange)
        client = await pool.client(user, exchange)
        before = _live_rows(engine, user, exchange)
        report, written = await reconciler.account_round(user, exchange)
        check.counts, check.written, check.errors = report.counts(), written, list(report.errors)
        since = report.since - timedelta(minutes=1)
        orders = await venue.orders_since(client, TEST_SYMBOLS[exchange], since)
        held = {o.client_order_id for o in orders if o.client_order_id}
        check.unsettled_before = sum(1 for r in before if r.status in ("unknown", "rejected")
                                     and r.client_order_id
                                     and venue.client_order_id(r.client_order_id) in held)
        after = _live_rows(engine, user, exchange)
        check.live_rows, check.exchange_orders = len(after), len(orders)
        check.differences = _differences(after, orders, venue.client_order_id)
    finally:
        await pool.close()
        await redis.aclose()
        engine.dispose()
    check.seconds = time.monotonic() - began
    return check


def _live_rows(engine: Any, user: str, exchange: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(Order.__table__).where(
            Order.user_id == user, Order.exchange == exchange, Order.mode == "LIVE")))


def _differences(rows: list[Any], orders: list[Any], sent_as: Any) -> list[str]:
    """Every exchange order without an equal row, and every placed row the exchange lacks."""
    out: list[str] = []
    by_order = {r.order_id: r for r in rows if r.order_id}
    for o in orders:
        row = by_order.get(o.order_id)
        if row is None:
            out.append(f"order {o.order_id} ({o.client_order_id}) is not in the journal")
            continue
        want = ("filled" if o.status == "closed" else o.status, o.filled, o.cost, o.fee)
        have = (row.status, row.filled, row.cost, row.fee)
        if want != have:
            out.append(f"order {o.order_id}: journal {have} != exchange {want}")
    at_exchange = {o.order_id for o in orders}
    cids = {o.client_order_id for o in orders if o.client_order_id}
    for r in rows:
        if r.order_id and r.status not in ("rejected", "unknown") and r.order_id not in at_exchange:
            out.append(f"row {r.intent_id} says {r.status} order {r.order_id}: not at the exchange")
        if r.status in ("rejected", "unknown") and r.client_order_id \
                and sent_as(r.client_order_id) in cids:
            out.append(f"row {r.intent_id} says {r.status} for an order the exchange holds")
    return out
