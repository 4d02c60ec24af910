"""The order pipeline's safety nets as processes: events of an unknown major version are never
executed, and an order request lost before any gateway read it still ends with an outcome
that matches the exchange."""
from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from bench.harness import LiveStack, stream_bodies
from piggy.ops import wait_outcome
from sandbox.admin import SandboxAdmin
from services.executor.routing import client_order_id
from shared import streams
from shared.events import OrderIntent, OrderRequested
from tests.e2e.test_live import _armed_user
from tests.support.inprocess import client_bus
from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e

ENV = {"ALLOW_LIVE": "1", "PIGGY_HEARTBEAT_MAX_AGE_S": "30", "PIGGY_CLAIM_IDLE_MS": "1000",
       "PIGGY_OUTCOME_TIMEOUT_S": "1", "PIGGY_RECONCILE_ROUNDS": "3"}


def test_v99_intents_and_order_requests_place_nothing_and_are_dead_lettered(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, ENV) as stack:
        _armed_user(stack, "vic")
        dead, line = asyncio.run(_v99(redis_url, "vic"))
        assert sorted(d["stream"] for d in dead) == sorted([streams.INTENTS, streams.ORDER_REQUESTS])
        assert all("unsupported major version 99" in d["reason"] for d in dead)
        orders = SandboxAdmin(stack.sandbox_url).orders()
        # only the v1 intent sent afterwards reached the exchange
        assert [o["clientOrderId"] for o in orders] == [client_order_id(line.intent_id)]


async def _v99(redis_url: str, user: str):
    async with client_bus(redis_url) as bus:
        intent = OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.broker.publish(intent.model_dump(mode="json") | {"version": 99},
                                 stream=streams.INTENTS)
        request = OrderRequested(
            intent_id=intent.intent_id, client_order_id=client_order_id(intent.intent_id),
            user_id=user, exchange="binanceus", symbol="BTC/USDT", side=intent.side,
            amount_usd=Decimal(2), live=True, requested_by="executor-x")
        await bus.broker.publish(request.model_dump(mode="json") | {"version": 99},
                                 stream=streams.ORDER_REQUESTS)
        dead = await _dead_letters(bus, 2, 10)
        ok = OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(ok, streams.INTENTS)
        line = await wait_outcome(bus, ok.intent_id, 20)
        assert line is not None and line.mode.value == "LIVE" and line.status == "filled", line
        return dead, line


def test_an_order_request_lost_before_any_gateway_read_it_still_gets_the_exchanges_outcome(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, ENV) as stack:
        _armed_user(stack, "rex")
        gateway = next(c for c in stack.children if c.name == "gateway")
        assert gateway.proc is not None
        gateway.proc.send_signal(signal.SIGSTOP)  # no gateway reads while the request is lost
        try:
            intent = asyncio.run(_route_and_lose_the_request(redis_url, "rex"))
        finally:
            gateway.proc.send_signal(signal.SIGCONT)
        line = asyncio.run(_outcome(redis_url, intent.intent_id, 30))
        orders = SandboxAdmin(stack.sandbox_url).orders()
        assert line is not None and line.mode.value == "LIVE" and line.status == "filled", line
        mine = [o for o in orders if o["clientOrderId"] == client_order_id(intent.intent_id)]
        assert len(mine) == 1 and str(mine[0]["orderId"]) == line.order_id


async def _route_and_lose_the_request(redis_url: str, user: str) -> OrderIntent:
    async with client_bus(redis_url) as bus:
        intent = OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(intent, streams.INTENTS)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            raw = await bus.redis.execute_command("XRANGE", streams.ORDER_REQUESTS, "-", "+",
                                                  NEVER_DECODE=True)
            if raw:
                await bus.redis.xdel(streams.ORDER_REQUESTS, *[entry_id for entry_id, _ in raw])
                return intent
            await asyncio.sleep(0.01)
        raise AssertionError("the executor never routed the intent")


async def _outcome(redis_url: str, intent_id: str, timeout: float):
    async with client_bus(redis_url) as bus:
        return await wait_outcome(bus, intent_id, timeout)


async def _dead_letters(bus, n: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    dead: list[dict] = []
    while time.monotonic() < deadline:
        dead = await stream_bodies(bus.redis, streams.DEAD_LETTER)
        if len(dead) >= n:
            break
        await asyncio.sleep(0.05)
    return dead


def test_two_executors_one_sigkilled_with_a_batch_in_hand_every_intent_is_logged_once(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, ENV) as stack:
        live = LiveStack(stack)
        try:
            _kill_one_of_two(live, redis_url)
        finally:
            for replica in live.extra:  # the stack stops its own children, not this one
                replica.stop()


def _kill_one_of_two(live: LiveStack, redis_url: str) -> None:
    live.add_replica("executor")
    procs = [c.proc for c in live.children("executor") if c.proc is not None]
    assert len(procs) == 2
    intents = [OrderIntent(user_id=f"k-{i % 7}", symbol="BTC/USDT", amount_usd=Decimal(2))
               for i in range(1500)]
    for proc in procs:  # a backlog both will read from in batches
        proc.send_signal(signal.SIGSTOP)
    asyncio.run(_publish(redis_url, intents))
    for proc in procs:
        proc.send_signal(signal.SIGCONT)
    time.sleep(0.15)
    procs[0].kill()  # mid-backlog: whatever batch it read and did not commit stays pending
    lines = asyncio.run(_all_lines(redis_url, {i.intent_id for i in intents}, 90))
    counts = Counter(ln["intent_id"] for ln in lines)
    assert set(counts) == {i.intent_id for i in intents}
    assert max(counts.values()) == 1


async def _publish(redis_url: str, intents: list[OrderIntent]) -> None:
    async with client_bus(redis_url) as bus:
        for chunk in range(0, len(intents), 50):
            await asyncio.gather(*(bus.publish(i, streams.INTENTS)
                                   for i in intents[chunk:chunk + 50]))


async def _all_lines(redis_url: str, ids: set[str], timeout: float) -> list[dict]:
    async with client_bus(redis_url) as bus:
        deadline = time.monotonic() + timeout
        lines: list[dict] = []
        while time.monotonic() < deadline:
            lines = [b for b in await stream_bodies(bus.redis, streams.TRADES)
                     if b.get("intent_id") in ids]
            if {ln["intent_id"] for ln in lines} == ids:
                await asyncio.sleep(1.0)  # anything logged twice would show by now
                return [b for b in await stream_bodies(bus.redis, streams.TRADES)
                        if b.get("intent_id") in ids]
            await asyncio.sleep(0.2)
        return lines
