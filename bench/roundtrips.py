"""Redis round trips per intent, counted (not timed), per service.

The services run in this process, as in the integration tests; every Redis connection a
service opens is tagged with its name, and each ``send_packed_command`` on a tagged connection
is one round trip of that service (a pipeline or a Lua call is one). The driver's own
connections are not counted.

* paper: a backlog of ``n`` paper intents, drained in batches (executor);
* live: ``n`` intents of an armed user one after the other; the driver plays the gateway
  (reads each order request, answers ``OrderPlaced``): the executor's share of the live path;
* live_gateway: the same with the real gateway (its subscribers, pool and loops) placing each
  order at an in-process sandbox exchange: executor, gateway and total round trips per intent.

Idle polling (blocking reads timing out, claimers, the reconciler, the heartbeat watchdog, the
gateway's heartbeats) is counted per service over an idle period and reported separately.

    python -m bench.roundtrips --redis redis://127.0.0.1:PORT [--n 2000] [--live 200]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import tempfile
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis.asyncio as aredis
from pydantic import SecretStr
from redis.asyncio.connection import AbstractConnection, ConnectionPool

from sandbox import AsyncSandboxAdmin, SandboxServer
from services.executor.routing import client_order_id
from shared import state, streams
from shared.bus import Bus, decode_entry
from shared.events import OrderIntent, OrderPlaced
from shared.settings import (
    ApiSettings,
    ExchangeSettings,
    ExecutorSettings,
    GatewaySettings,
    VaultSettings,
)
from shared.vault import ApiKeyPair
from tests.support.inprocess import executor, gateway

EXECUTOR, GATEWAY = "executor", "gateway"
IDLE_S = 2.0


class Counter:
    """Counts round trips per label, on connections from pools created while ``tagging``
    names that label."""

    def __init__(self) -> None:
        self.counts: Tally[str] = Tally()
        self.tagging = ""
        self._pools: dict[int, str] = {}

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def install(self) -> None:
        counter = self
        pool_init = ConnectionPool.__init__
        get_connection = ConnectionPool.get_connection
        send = AbstractConnection.send_packed_command

        def init(pool: ConnectionPool, *args: Any, **kwargs: Any) -> None:
            pool_init(pool, *args, **kwargs)
            if counter.tagging:
                counter._pools[id(pool)] = counter.tagging

        async def get(pool: ConnectionPool, *args: Any, **kwargs: Any) -> Any:
            conn = await get_connection(pool, *args, **kwargs)
            conn._piggy_counted = counter._pools.get(id(pool), "")  # type: ignore[attr-defined]
            return conn

        async def send_counted(conn: AbstractConnection, command: Any,
                               check_health: bool = True) -> None:
            label = getattr(conn, "_piggy_counted", "")
            if label:
                counter.counts[label] += 1
            await send(conn, command, check_health)

        ConnectionPool.__init__ = init  # type: ignore[method-assign]
        ConnectionPool.get_connection = get  # type: ignore[method-assign]
        AbstractConnection.send_packed_command = send_counted  # type: ignore[method-assign]

    @asynccontextmanager
    async def tag(self, label: str) -> AsyncIterator[None]:
        """Pools made while starting a service (inside this block, before it yields) are
        counted as ``label``'s."""
        self.tagging = label
        try:
            yield
        finally:
            self.tagging = ""


@asynccontextmanager
async def counted_executor(counter: Counter, redis_url: str,
                           settings: ExecutorSettings) -> AsyncIterator[None]:
    async with counter.tag(EXECUTOR):
        cm = executor(redis_url, settings, instance_id="executor-counted")
        await cm.__aenter__()
    try:
        yield
    finally:
        await cm.__aexit__(None, None, None)


async def counted(counter: Counter, n: int, run: Callable[[], Awaitable[None]],
                  labels: tuple[str, ...] = (EXECUTOR,)) -> dict[str, Any]:
    """Idle round trips per second, then ``run`` (``n`` intents) counted: per label and in
    total, per intent, with and without the idle polling of the same length."""
    await asyncio.sleep(0.5)
    before = dict(counter.counts)
    await asyncio.sleep(IDLE_S)
    idle = {k: (counter.counts[k] - before.get(k, 0)) / IDLE_S for k in labels}
    start = dict(counter.counts)
    began = time.perf_counter()
    await run()
    took = time.perf_counter() - began
    trips = {k: counter.counts[k] - start.get(k, 0) for k in labels}

    def one(k: str) -> dict[str, Any]:
        return {"round_trips": trips[k], "per_intent": round(trips[k] / n, 3),
                "idle_per_s": idle[k],
                "per_intent_without_idle": round(max(0.0, trips[k] - idle[k] * took) / n, 3)}

    total = sum(trips.values())
    idle_all = sum(idle.values())
    out = {"n": n, "round_trips": total, "per_intent": round(total / n, 3),
           "idle_per_s": idle_all,
           "per_intent_without_idle": round(max(0.0, total - idle_all * took) / n, 3),
           "seconds": round(took, 3)}
    if len(labels) > 1:
        out |= {k: one(k) for k in labels}
    return out


@asynccontextmanager
async def driver(redis_url: str) -> AsyncIterator[Bus]:
    bus = Bus(redis_url, "bench-driver")
    await bus.broker.connect()
    try:
        yield bus
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()


async def paper(counter: Counter, redis_url: str, n: int) -> dict[str, Any]:
    async with driver(redis_url) as bus, counted_executor(counter, redis_url, ExecutorSettings()):
        base = await _xlen(bus.redis, streams.TRADES)
        bodies = [OrderIntent(user_id=f"rt-{i % 50}", symbol="BTC/USDT", amount_usd=Decimal(2),
                              source="bench", await_outcome=False).model_dump(mode="json")
                  for i in range(n)]

        async def run() -> None:
            for chunk in range(0, n, 100):
                await asyncio.gather(*(bus.broker.publish(b, stream=streams.INTENTS)
                                       for b in bodies[chunk:chunk + 100]))
            while await _xlen(bus.redis, streams.TRADES) - base < n:
                await asyncio.sleep(0.01)

        return await counted(counter, n, run)


def _live_settings() -> ExecutorSettings:
    return ExecutorSettings(allow_live=True, heartbeat_max_age_s=3600,
                            daily_cap_usd=Decimal(10**9), max_trade_usd=Decimal(10**6))


async def _arm(bus: Bus, user: str) -> None:
    await state.set_credential_status(bus.redis, user, "binanceus",
                                      {"status": "validated", "can_trade": True})
    await bus.redis.hset(state.ARMED, state.armed_field(user, "binanceus"), "1")


async def _intents_one_by_one(bus: Bus, user: str, n: int,
                              answer: Callable[[OrderIntent], Awaitable[None]] | None) -> None:
    for _ in range(n):
        intent = OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2),
                             source="bench")
        await bus.publish(intent, streams.INTENTS)
        if answer is not None:
            await answer(intent)
        await _wait_line(bus, intent.intent_id)


async def live(counter: Counter, redis_url: str, n: int) -> dict[str, Any]:
    user = "rt-live"
    async with driver(redis_url) as bus:
        await _arm(bus, user)
        await state.record_heartbeat(bus.redis, "bench-gateway", time.time() + 3000)
        async with counted_executor(counter, redis_url, _live_settings()):
            last = ["$"]

            async def answer(intent: OrderIntent) -> None:
                last[0] = await _answer(bus, last[0], intent)

            return await counted(counter, n, lambda: _intents_one_by_one(bus, user, n, answer))


async def live_gateway(counter: Counter, redis_url: str, n: int) -> dict[str, Any]:
    """Executor and gateway, the gateway placing each order at an in-process sandbox. On its
    own Redis database: the order requests the driver answered in ``live`` stay unanswered
    for a gateway group made from the start of the stream."""
    user = "rt-live-gw"
    redis_url = redis_url.rstrip("/") + "/1"
    with tempfile.TemporaryDirectory(prefix="piggy-rt-") as home:
        async with SandboxServer(port=0, seed=1) as sb, driver(redis_url) as bus:
            admin = AsyncSandboxAdmin(sb.url)
            key = await admin.create_key(balances={"USDT": "10000000"})
            await _arm(bus, user)
            master = SecretStr(base64.urlsafe_b64encode(os.urandom(32)).decode())
            async with counter.tag(GATEWAY):
                gw_cm = gateway(
                    redis_url, instance_id="gateway-counted",
                    exchange=ExchangeSettings(binanceus_url=sb.url),
                    gateway=GatewaySettings(heartbeat_interval_s=1.0, ticker_interval_s=60.0,
                                            ticker_symbols=["BTC/USDT"]),
                    api=ApiSettings(home=Path(home)),
                    vault=VaultSettings(master_key=master, home=Path(home)))
                gw = await gw_cm.__aenter__()
            try:
                await gw.vault.put(user, "binanceus", ApiKeyPair(key["api_key"], key["secret"]))
                async with counted_executor(counter, redis_url, _live_settings()):
                    await _wait_price(bus)
                    out = await counted(counter, n,
                                        lambda: _intents_one_by_one(bus, user, n, None),
                                        (EXECUTOR, GATEWAY))
                    return out | {"orders_at_exchange": len(await admin.orders())}
            finally:
                await gw_cm.__aexit__(None, None, None)


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


async def _wait_price(bus: Bus, timeout: float = 15.0) -> None:
    """The gateway's first ticker is in (an order then needs no ticker call of its own)."""
    deadline = time.monotonic() + timeout
    while await state.last_price(bus.redis, "binanceus", "BTC/USDT") is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the gateway published no BTC/USDT price")
        await asyncio.sleep(0.05)


async def _xlen(r: aredis.Redis, stream: str) -> int:
    return int(await r.xlen(stream)) if await r.exists(stream) else 0


def measure(redis_url: str, n_paper: int, n_live: int) -> dict[str, Any]:
    counter = Counter()
    counter.install()

    async def all_three() -> dict[str, Any]:
        return {"paper": await paper(counter, redis_url, n_paper),
                "live": await live(counter, redis_url, n_live),
                "live_gateway": await live_gateway(counter, redis_url, n_live)}

    return asyncio.run(all_three())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.roundtrips")
    parser.add_argument("--redis", required=True)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--live", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(measure(args.redis, args.n, args.live)))


if __name__ == "__main__":
    main()
