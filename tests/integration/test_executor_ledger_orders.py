"""The executor's ledger scripts in Redis under random event orders: deliveries,
redeliveries, duplicate and late outcomes, restarts (no in-process memory) and reconciler
rounds. Whatever the order: one trade line at most, the status follows the lifecycle, the
reservation is held exactly while money may be spent, and every intent ends with an outcome."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.harness import stream_bodies
from services.executor import handlers, reconciler
from services.executor.context import ExecutorContext
from services.executor.ledger import Ledger
from services.executor.risk import spend_key
from services.executor.routing import client_order_id
from shared import state, streams
from shared.bus import Batch, Bus
from shared.events import OrderIntent, OrderPlaced, OrderRejected, RejectCategory
from shared.settings import ExecutorSettings
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration

EVENTS = st.lists(st.sampled_from(["deliver", "redeliver", "placed", "rejected", "unknown",
                                   "round", "restart"]), min_size=1, max_size=14)
LINE_STATUS = {"placed": "filled", "rejected": "rejected", "unknown": "unknown"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS)
def test_random_event_orders_keep_exactly_once_and_the_reservation_right(
        redis_server: RedisServer, events: list[str]) -> None:
    asyncio.run(_run(redis_server.url, events))


async def _run(url: str, events: list[str]) -> None:
    clock = [time.time()]
    bus = Bus(url, "executor", "exec-h")
    s = ExecutorSettings(allow_live=True, outcome_timeout_s=1.0, reconcile_rounds=2,
                         heartbeat_max_age_s=1e9)
    ctx = ExecutorContext(bus=bus, ledger=Ledger(bus.redis), settings=s, clock=lambda: clock[0])
    r = bus.redis
    intent = OrderIntent(user_id=f"u-{time.time_ns()}", symbol="BTC/USDT", amount_usd=Decimal(2))
    cid = client_order_id(intent.intent_id)
    try:
        await state.set_credential_status(r, intent.user_id, "binanceus",
                                          {"status": "validated", "can_trade": True})
        await state.record_heartbeat(r, "gw", clock[0])
        await r.hset(state.ARMED, state.armed_field(intent.user_id, "binanceus"), "1")
        for event in [*events, "round", "round", "round", "round"]:
            if event in ("deliver", "redeliver"):
                await handlers.on_intents(ctx, Batch(streams.INTENTS, "executor", [("0-1", intent)],
                                                     [], 1 if event == "deliver" else 2))
            elif event == "placed":
                await handlers.on_order_events(ctx, Batch(streams.ORDER_EVENTS, "executor", [(
                    "0-1", OrderPlaced(intent_id=intent.intent_id, client_order_id=cid,
                                       user_id=intent.user_id, exchange="binanceus",
                                       symbol="BTC/USDT", symbol_id="BTCUSDT", order_id="42",
                                       status="closed"))]))
            elif event in ("rejected", "unknown"):
                await handlers.on_order_events(ctx, Batch(streams.ORDER_EVENTS, "executor", [(
                    "0-1", OrderRejected(
                        intent_id=intent.intent_id, client_order_id=cid, user_id=intent.user_id,
                        exchange="binanceus", symbol="BTC/USDT",
                        category=RejectCategory.UNAVAILABLE,
                        code="status_unknown" if event == "unknown" else "refused",
                        message=event))]))
            elif event == "round":
                clock[0] += s.outcome_timeout_s + 1
                await reconciler.reconcile_once(ctx)
            else:
                ctx.routed.clear()
        record = await ctx.ledger.get(intent.intent_id)
        lines = [b for b in await stream_bodies(r, streams.TRADES)
                 if b["intent_id"] == intent.intent_id]
        spent = int(await r.get(spend_key(intent.user_id, ctx.now())) or 0)
        requested = [b for b in await stream_bodies(r, streams.ORDER_REQUESTS)
                     if b["intent_id"] == intent.intent_id]
        delivered = "deliver" in events or "redeliver" in events
        assert len(lines) <= 1
        if not delivered:  # outcomes for an intent never seen: ignored, nothing logged
            assert record is None and lines == [] and spent == 0
            return
        assert record is not None and record.terminal, (events, record)
        assert len(lines) == 1
        status = record.status.value if record.status else ""
        assert lines[0]["status"] == LINE_STATUS[status]
        assert requested and all(q["client_order_id"] == cid for q in requested)
        assert spent == (0 if status == "rejected" else 2_000_000)
        assert await r.zscore("piggy:executor:inflight", intent.intent_id) is None
    finally:
        await r.aclose()
