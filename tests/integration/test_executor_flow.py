"""The executor against a real Redis: paper fills, exactly-once, dead letters, arming, caps."""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from faststream.redis.parser import BinaryMessageFormatV1

from piggy.ops import wait_outcome
from services.executor.risk import spend_key, to_micros
from services.executor.routing import client_order_id
from shared import state, streams, tradelog
from shared.bus import decode_entry
from shared.events import ArmLive, OrderIntent, OrderRejected, QueryLive, RejectCategory
from shared.settings import ExecutorSettings
from tests.support.inprocess import ask_executor, client_bus, executor

pytestmark = pytest.mark.integration


async def _entries(redis, stream: str) -> list[dict]:
    raw = await redis.execute_command("XRANGE", stream, "-", "+", NEVER_DECODE=True)
    return [decode_entry(fields) for _id, fields in raw]


async def _armed(redis, user: str) -> None:
    """Every gate open for ``user``, live armed included."""
    await _make_live_ready(redis, user)
    await redis.hset(state.ARMED, state.armed_field(user, "binanceus"), "1")


async def _requests(redis, at_least: int) -> list[dict]:
    """The order requests on the stream, once there are ``at_least`` (or after 5 s)."""
    for _ in range(100):
        requests = await _entries(redis, streams.ORDER_REQUESTS)
        if len(requests) >= at_least:
            break
        await asyncio.sleep(0.05)
    return requests


async def _make_live_ready(redis, user: str) -> None:
    """Every gate but arming open: validated keys and a fresh gateway heartbeat."""
    await state.set_credential_status(redis, user, "binanceus", {"status": "validated", "can_trade": True})
    await state.record_heartbeat(redis, "gateway-test", time.time())


async def test_paper_fill_names_every_closed_gate_and_keeps_the_correlation_id(redis_url: str) -> None:
    async with executor(redis_url), client_bus(redis_url) as bus:
        await state.set_last_price(bus.redis, "binanceus", "BTC/USDT", Decimal(40000))
        intent = OrderIntent(user_id="alice", symbol="BTC/USDT", amount_usd=Decimal(2), source="test-buy")
        await bus.publish(intent, streams.INTENTS)
        line = await wait_outcome(bus, intent.intent_id, 10)
        assert line is not None
        assert line.mode.value == "PAPER" and line.status == "filled"
        assert line.order_id == f"paper-{intent.intent_id}"
        assert line.correlation_id == intent.correlation_id
        assert line.price == Decimal(40000) and line.filled == Decimal("0.00005")
        closed = {r.split(":")[0] for r in line.reasons}
        assert closed == {"allow_live", "credentials", "gateway_heartbeat", "armed"}
        decisions = await _entries(bus.redis, streams.DECISIONS)
        assert [d["correlation_id"] for d in decisions] == [intent.correlation_id]


async def test_intent_published_twice_is_filled_once(redis_url: str) -> None:
    async with executor(redis_url), client_bus(redis_url) as bus:
        intent = OrderIntent(user_id="bob", symbol="ETH/USDT", amount_usd=Decimal(3))
        await bus.publish(intent, streams.INTENTS)
        await bus.publish(intent, streams.INTENTS)
        assert await wait_outcome(bus, intent.intent_id, 10) is not None
        await asyncio.sleep(0.5)
        lines = await tradelog.read(bus.redis, intent_id=intent.intent_id)
        assert len(lines) == 1


async def test_malformed_entries_are_dead_lettered_and_consumption_goes_on(redis_url: str) -> None:
    async with executor(redis_url), client_bus(redis_url) as bus:
        await bus.redis.xadd(streams.INTENTS, {"junk": "not an intent"})
        await bus.broker.publish(b"\x00\xffnot json", stream=streams.INTENTS)
        await bus.broker.publish({"type": "OrderIntent", "user_id": "u", "symbol": "BTC/USDT",
                                  "amount_usd": "-5"}, stream=streams.INTENTS)
        good = OrderIntent(user_id="carol", symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(good, streams.INTENTS)
        assert await wait_outcome(bus, good.intent_id, 10) is not None
        dead = await _entries(bus.redis, streams.DEAD_LETTER)
        assert len(dead) == 3
        assert all(d["stream"] == streams.INTENTS and d["group"] == "executor" for d in dead)
        assert any("amount_usd" in d["reason"] for d in dead)
        pending = await bus.redis.xpending(streams.INTENTS, "executor")
        assert pending["pending"] == 0


async def test_arming_lists_every_closed_gate_and_succeeds_once_they_open(redis_url: str) -> None:
    settings = ExecutorSettings(allow_live=True)
    async with executor(redis_url, settings) as ctx, client_bus(redis_url) as bus:
        refused = await ask_executor(bus, ArmLive(user_id="dave"))
        assert not refused.ok and not refused.armed
        assert {c.split(":")[0] for c in refused.closed} == {"credentials", "gateway_heartbeat", "armed"}
        await _make_live_ready(bus.redis, "dave")
        armed = await ask_executor(bus, ArmLive(user_id="dave"))
        assert armed.ok and armed.armed and armed.closed == []
        status = await ask_executor(bus, QueryLive(user_id="dave"))
        assert status.armed
        assert ctx.settings.allow_live


async def test_kill_switch_stops_live_routing_and_names_the_gate(redis_url: str) -> None:
    settings = ExecutorSettings(allow_live=True, paper_enabled=False)
    async with executor(redis_url, settings), client_bus(redis_url) as bus:
        await _armed(bus.redis, "erin")
        await state.halt(bus.redis, "test", "drill")
        intents = [OrderIntent(user_id="erin", symbol="BTC/USDT", amount_usd=Decimal(2)) for _ in range(20)]
        for intent in intents:
            await bus.publish(intent, streams.INTENTS)
        for intent in intents:
            line = await wait_outcome(bus, intent.intent_id, 10)
            assert line is not None and line.status == "rejected"
            assert any(r.startswith("kill_switch") for r in line.reasons)
        assert await _entries(bus.redis, streams.ORDER_REQUESTS) == []


async def test_live_intent_is_requested_from_the_gateway_with_a_deterministic_client_order_id(
        redis_url: str) -> None:
    async with executor(redis_url, ExecutorSettings(allow_live=True)), client_bus(redis_url) as bus:
        await _armed(bus.redis, "fay")
        intent = OrderIntent(user_id="fay", symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(intent, streams.INTENTS)
        requests = await _requests(bus.redis, 1)
        assert len(requests) == 1
        assert requests[0]["live"] is True
        assert requests[0]["client_order_id"] == client_order_id(intent.intent_id)
        assert requests[0]["correlation_id"] == intent.correlation_id


async def test_two_executor_replicas_never_exceed_the_daily_cap_together(redis_url: str) -> None:
    settings = ExecutorSettings(allow_live=True, paper_enabled=False, daily_cap_usd=Decimal(20))
    async with executor(redis_url, settings, "exec-a"), executor(redis_url, settings, "exec-b"), \
            client_bus(redis_url) as bus:
        await _armed(bus.redis, "gus")
        intents = [OrderIntent(user_id="gus", symbol="BTC/USDT", amount_usd=Decimal(3)) for _ in range(40)]
        for intent in intents:
            await bus.publish(intent, streams.INTENTS)
        rejected = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            requests = await _entries(bus.redis, streams.ORDER_REQUESTS)
            lines = await tradelog.read(bus.redis, user_id="gus", limit=100)
            rejected = sum(1 for ln in lines if ln.status == "rejected")
            if len(requests) + rejected == len(intents):
                break
            await asyncio.sleep(0.1)
        requests = await _entries(bus.redis, streams.ORDER_REQUESTS)
        assert sum(Decimal(r["amount_usd"]) for r in requests) <= Decimal(20)
        assert len(requests) == 6 and rejected == 34
        consumers = {r["requested_by"] for r in requests}
        assert consumers <= {"exec-a", "exec-b"}


async def test_unknown_order_status_is_looked_up_again_never_released_or_logged_as_rejected(
        redis_url: str) -> None:
    async with executor(redis_url, ExecutorSettings(allow_live=True)), client_bus(redis_url) as bus:
        await _armed(bus.redis, "hal")
        intent = OrderIntent(user_id="hal", symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(intent, streams.INTENTS)
        cid = client_order_id(intent.intent_id)
        await _requests(bus.redis, 1)
        await bus.publish(OrderRejected(
            intent_id=intent.intent_id, client_order_id=cid, user_id="hal", exchange="binanceus",
            symbol="BTC/USDT", category=RejectCategory.UNAVAILABLE, code="status_unknown",
            message="order status unknown after RequestTimeout"), streams.ORDER_EVENTS)
        requests = await _requests(bus.redis, 2)
        assert [r["client_order_id"] for r in requests] == [cid, cid]
        assert await tradelog.read(bus.redis, intent_id=intent.intent_id) == []
        spent = await bus.redis.get(spend_key("hal", datetime.now(UTC)))
        assert int(spent) == to_micros(Decimal(2))


async def _json_frame(body: bytes) -> bytes:
    """A faststream frame that says its body is JSON, whatever the body is."""
    return await BinaryMessageFormatV1.encode(message=body, reply_to=None, correlation_id="junk",
                                              headers={"content-type": "application/json"})


async def test_undecodable_frames_are_dead_lettered_on_first_delivery_batched_or_not(
        redis_url: str) -> None:
    # The claim idle time is far beyond the test: anything that is not dead-lettered on its
    # first delivery would stay pending, and the assertions on the pending lists would fail.
    async with executor(redis_url), client_bus(redis_url) as bus:
        for stream in (streams.INTENTS, streams.CREDENTIALS):
            for body in (b"\xff\xfe{not utf-8", b"{not json", b'"a string"'):
                await bus.redis.xadd(stream, {"__data__": await _json_frame(body)})
        good = OrderIntent(user_id="ida", symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(good, streams.INTENTS)
        assert await wait_outcome(bus, good.intent_id, 10) is not None
        for _ in range(100):
            dead = await _entries(bus.redis, streams.DEAD_LETTER)
            if len(dead) >= 6:
                break
            await asyncio.sleep(0.05)
        assert sorted(d["stream"] for d in dead) == [streams.CREDENTIALS] * 3 + [streams.INTENTS] * 3
        assert sum("undecodable" in d["reason"] for d in dead) == 4
        for stream in (streams.INTENTS, streams.CREDENTIALS):
            assert (await bus.redis.xpending(stream, "executor"))["pending"] == 0


async def test_an_unknown_major_version_is_dead_lettered_with_the_reason_never_executed(
        redis_url: str) -> None:
    async with executor(redis_url, ExecutorSettings(allow_live=True)), client_bus(redis_url) as bus:
        await _armed(bus.redis, "jon")
        future = OrderIntent(user_id="jon", symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.broker.publish(future.model_dump(mode="json") | {"version": 99},
                                 stream=streams.INTENTS)
        now = OrderIntent(user_id="jon", symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(now, streams.INTENTS)
        requests = await _requests(bus.redis, 1)
        assert [r["intent_id"] for r in requests] == [now.intent_id]
        dead = await _entries(bus.redis, streams.DEAD_LETTER)
        assert len(dead) == 1 and "unsupported major version 99" in dead[0]["reason"]
        assert await bus.redis.exists(f"piggy:ledger:{future.intent_id}") == 0


async def test_one_bad_entry_in_a_batch_is_dead_lettered_alone_the_rest_handled_once(
        redis_url: str) -> None:
    async with client_bus(redis_url) as bus:
        from shared.bus import ensure_group

        await ensure_group(bus.redis, streams.INTENTS, "executor")
        intents = [OrderIntent(user_id="kim", symbol="BTC/USDT", amount_usd=Decimal(2))
                   for _ in range(20)]
        for i, intent in enumerate(intents):  # one backlog, read as one batch
            await bus.publish(intent, streams.INTENTS)
            if i == 7:
                await bus.redis.xadd(streams.INTENTS, {"__data__": await _json_frame(b"{bad")})
        async with executor(redis_url):
            for intent in intents:
                assert await wait_outcome(bus, intent.intent_id, 10) is not None
            await asyncio.sleep(0.3)
        lines = await tradelog.read(bus.redis, user_id="kim", limit=100)
        assert sorted(ln.intent_id for ln in lines) == sorted(i.intent_id for i in intents)
        dead = await _entries(bus.redis, streams.DEAD_LETTER)
        assert len(dead) == 1 and "undecodable" in dead[0]["reason"]
        assert (await bus.redis.xpending(streams.INTENTS, "executor"))["pending"] == 0


async def test_a_routed_intent_never_answered_is_looked_up_then_logged_unknown_with_the_reason(
        redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    settings = ExecutorSettings(allow_live=True, outcome_timeout_s=0.3, reconcile_rounds=2)
    async with executor(redis_url, settings), client_bus(redis_url) as bus:
        await _armed(bus.redis, "lou")
        intent = OrderIntent(user_id="lou", symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(intent, streams.INTENTS)
        line = await wait_outcome(bus, intent.intent_id, 10)
        assert line is not None and line.mode.value == "LIVE" and line.status == "unknown"
        assert "no outcome after 2 lookup(s)" in line.reasons[0]
        assert line.client_order_id == client_order_id(intent.intent_id)
        requests = await _entries(bus.redis, streams.ORDER_REQUESTS)
        assert [r["client_order_id"] for r in requests] == [client_order_id(intent.intent_id)] * 3
        spent = await bus.redis.get(spend_key("lou", datetime.now(UTC)))
        assert int(spent) == to_micros(Decimal(2))  # the money may be spent: kept reserved
        assert any("ALERT" in r.message and intent.intent_id in r.message for r in caplog.records)
