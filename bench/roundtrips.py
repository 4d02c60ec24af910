"""Redis round trips the executor makes per intent, counted (not timed).

An executor runs in this process, as in the integration tests; every Redis connection it
opens is tagged, and each ``send_packed_command`` on a tagged connection is one round trip
(a pipeline or a Lua call is one). The driver's own connections are not counted.

* paper: a backlog of ``n`` paper intents, drained in batches;
* live: ``n`` intents of an armed user one after the other; the driver plays the gateway
  (reads each order request, answers ``OrderPlaced``), so this is the executor's share of
  the live path: intent → order request, and outcome → trade line.

Idle polling (blocking reads timing out, the claimer, the reconciler, the heartbeat
watchdog) is counted over an idle period of the same length and reported separately.

    python -m bench.roundtrips --redis redis://127.0.0.1:PORT [--n 2000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import redis.asyncio as aredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool

from services.executor.routing import client_order_id
from shared import state, streams
from shared.bus import Bus, decode_entry
from shared.events import OrderIntent, OrderPlaced
from shared.settings import ExecutorSettings
from tests.support.inprocess import executor


class Counter:
    """Counts round trips on connections from pools created while ``tagging`` is on."""

    def __init__(self) -> None:
        self.count = 0
        self.tagging = False
        self._pools: set[int] = set()

    def install(self) -> None:
        counter = self
        pool_init = ConnectionPool.__init__
        get_connection = ConnectionPool.get_connection
        send = AbstractConnection.send_packed_command

        def init(pool: ConnectionPool, *args: Any, **kwargs: Any) -> None:
            pool_init(pool, *args, **kwargs)
            if counter.tagging:
                counter._pools.add(id(pool))

        async def get(pool: ConnectionPool, *args: Any, **kwargs: Any) -> Any:
            conn = await get_connection(pool, *args, **kwargs)
            conn._piggy_counted = id(pool) in counter._pools  # type: ignore[attr-defined]
            return conn

        async def send_counted(conn: AbstractConnection, command: Any,
                               check_health: bool = True) -> None:
            if getattr(conn, "_piggy_counted", False):
                counter.count += 1
            await send(conn, command, check_health)

        ConnectionPool.__init__ = init  # type: ignore[method-assign]
        ConnectionPool.get_connection = get  # type: ignore[method-assign]
        AbstractConnection.send_packed_command = send_counted  # type: ignore[method-assign]


@asynccontextmanager
async def counted_executor(counter: Counter, redis_url: str,
                           settings: ExecutorSettings) -> AsyncIterator[None]:
    counter.tagging = True
    try:
        async with executor(redis_url, settings, instance_id="executor-counted"):
            counter.tagging = False
            yield
    finally:
        counter.tagging = False


async def paper(counter: Counter, redis_url: str, n: int) -> dict[str, Any]:
    bus = Bus(redis_url, "bench-driver")
    await bus.broker.connect()
    try:
        async with counted_executor(counter, redis_url, ExecutorSettings()):
            await asyncio.sleep(0.5)
            before_idle = counter.count
            await asyncio.sleep(2.0)
            idle_per_s = (counter.count - before_idle) / 2.0
            base = await _xlen(bus.redis, streams.TRADES)
            bodies = [OrderIntent(user_id=f"rt-{i % 50}", symbol="BTC/USDT", amount_usd=Decimal(2),
                                  source="bench").model_dump(mode="json") for i in range(n)]
            start = counter.count
            began = time.perf_counter()
            for chunk in range(0, n, 100):
                await asyncio.gather(*(bus.broker.publish(b, stream=streams.INTENTS)
                                       for b in bodies[chunk:chunk + 100]))
            while await _xlen(bus.redis, streams.TRADES) - base < n:
                await asyncio.sleep(0.01)
            took = time.perf_counter() - began
            trips = counter.count - start
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()
    return {"n": n, "round_trips": trips, "per_intent": round(trips / n, 3),
            "idle_per_s": idle_per_s,
            "per_intent_without_idle": round(max(0.0, trips - idle_per_s * took) / n, 3),
            "seconds": round(took, 3)}


async def live(counter: Counter, redis_url: str, n: int) -> dict[str, Any]:
    bus = Bus(redis_url, "bench-driver")
    await bus.broker.connect()
    user = "rt-live"
    settings = ExecutorSettings(allow_live=True, heartbeat_max_age_s=3600,
                                daily_cap_usd=Decimal(10**9), max_trade_usd=Decimal(10**6))
    try:
        await state.set_credential_status(bus.redis, user, "binanceus",
                                          {"status": "validated", "can_trade": True})
        await state.record_heartbeat(bus.redis, "bench-gateway", time.time() + 3000)
        await bus.redis.hset(state.ARMED, user, "1")
        async with counted_executor(counter, redis_url, settings):
            await asyncio.sleep(0.5)
            before_idle = counter.count
            await asyncio.sleep(2.0)
            idle_per_s = (counter.count - before_idle) / 2.0
            last = "$"
            start = counter.count
            began = time.perf_counter()
            for _ in range(n):
                intent = OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2),
                                     source="bench")
                await bus.publish(intent, streams.INTENTS)
                last = await _answer(bus, last, intent)
                await _wait_line(bus, intent.intent_id)
            took = time.perf_counter() - began
            trips = counter.count - start
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()
    return {"n": n, "round_trips": trips, "per_intent": round(trips / n, 3),
            "idle_per_s": idle_per_s,
            "per_intent_without_idle": round(max(0.0, trips - idle_per_s * took) / n, 3),
            "seconds": round(took, 3)}


async def _answer(bus: Bus, last: str, intent: OrderIntent) -> str:
    """The gateway's part: the order request → ``OrderPlaced``."""
    while True:
        got = await bus.redis.execute_command("XREAD", "COUNT", 10, "BLOCK", 5000, "STREAMS",
                                              streams.ORDER_REQUESTS, last, NEVER_DECODE=True)
        for _stream, entries in got or []:
            for entry_id, fields in entries:
                last = entry_id.decode()
                body = decode_entry(fields)
                if body.get("intent_id") == intent.intent_id:
                    await bus.publish(OrderPlaced(
                        intent_id=intent.intent_id, client_order_id=client_order_id(intent.intent_id),
                        user_id=intent.user_id, exchange="binanceus", symbol="BTC/USDT",
                        symbol_id="BTCUSDT", order_id=f"o-{intent.intent_id[:8]}", status="closed",
                        filled=Decimal("0.00004"), cost=Decimal(2), average=Decimal(50000),
                        correlation_id=intent.correlation_id), streams.ORDER_EVENTS)
                    return last


async def _wait_line(bus: Bus, intent_id: str) -> None:
    key = f"piggy:ledger:{intent_id}"
    while not await bus.redis.hexists(key, "outcome"):
        await asyncio.sleep(0.001)


async def _xlen(r: aredis.Redis, stream: str) -> int:
    return int(await r.xlen(stream)) if await r.exists(stream) else 0


def measure(redis_url: str, n_paper: int, n_live: int) -> dict[str, Any]:
    counter = Counter()
    counter.install()

    async def both() -> dict[str, Any]:
        return {"paper": await paper(counter, redis_url, n_paper),
                "live": await live(counter, redis_url, n_live)}

    return asyncio.run(both())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.roundtrips")
    parser.add_argument("--redis", required=True)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--live", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(measure(args.redis, args.n, args.live)))


if __name__ == "__main__":
    main()
