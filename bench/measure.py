"""The measurements of ``python -m bench``, each one async and self-contained.

* ``redis_floor``: raw redis-py XADD → XREADGROUP round trip, one message in flight.
* ``live_latency``: sequential live intents; publish → the gateway's OrderPlaced seen on the
  order-events stream (the exchange acknowledged it). Split into stages by the events' own
  creation times (one clock, one machine): publish → the executor's OrderRequested made;
  → the gateway's OrderPlaced made (the exchange call is in it); → seen by this process.
* ``paper_throughput``: a backlog of paper intents behind SIGSTOPped executors, released at
  once; time until every one has its trade-log line, and the executors' CPU seconds for it.
* ``kill_to_last_order``: live intents streaming, the kill switch set; how long after it the
  sandbox still accepted an order (0 when none came after), per trial.
"""
from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import redis.asyncio as aredis

from bench.harness import LiveStack, cpu_seconds
from bench.stats import summary
from shared import redis_conn, state, streams
from shared.bus import Bus, decode_entry
from shared.events import OrderIntent

Tick = Callable[[int], None]


async def redis_floor(redis_url: str, n: int, tick: Tick) -> dict[str, float]:
    """XADD on one connection, XREADGROUP BLOCK on another, one message in flight."""
    pub = redis_conn.async_client(redis_url)
    sub = redis_conn.async_client(redis_url)
    stream, group = "bench:floor", "bench"
    await pub.delete(stream)
    await pub.xgroup_create(stream, group, id="$", mkstream=True)
    samples: list[float] = []
    try:
        for i in range(n + 100):
            reader = asyncio.create_task(sub.xreadgroup(group, "c", {stream: ">"}, count=1,
                                                        block=1000, noack=True))
            await asyncio.sleep(0)  # the read is sent before the write
            started = time.perf_counter()
            await pub.xadd(stream, {"i": str(i)})
            await reader
            if i >= 100:
                samples.append((time.perf_counter() - started) * 1000)
                tick(1)
    finally:
        await pub.delete(stream)
        await pub.aclose()
        await sub.aclose()
    return summary(samples)


async def live_latency(live: LiveStack, user: str, n: int, tick: Tick) -> dict[str, Any]:
    bus = Bus(live.redis_url, "bench")
    watch = redis_conn.async_client(live.redis_url)
    await bus.broker.connect()
    samples: list[float] = []
    failures: list[str] = []
    stages: dict[str, list[float]] = {"executor": [], "gateway": [], "back": []}
    try:
        last = (await watch.xinfo_stream(streams.ORDER_EVENTS))["last-generated-id"] \
            if await watch.exists(streams.ORDER_EVENTS) else "0-0"
        for i in range(n + 20):
            intent = OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2),
                                 source="bench")
            started, wall = time.perf_counter(), time.time()
            await bus.publish(intent, streams.INTENTS)
            outcome, last, placed = await _await_order_event(watch, last, intent.intent_id, 10.0)
            took = (time.perf_counter() - started) * 1000
            seen = time.time()
            if outcome != "OrderPlaced":
                failures.append(f"{intent.intent_id}: {outcome}")
            elif i >= 20:
                samples.append(took)
                await _stages(watch, intent.intent_id, wall, placed, seen, stages)
            tick(1)
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()
        await watch.aclose()
    return summary(samples) | {"failures": failures[:5], "failed": len(failures),
                               "stages_ms": {k: summary(v) for k, v in stages.items() if v}}


def _epoch(body: dict[str, Any]) -> float:
    return datetime.fromisoformat(str(body["ts"])).timestamp()


async def _stages(watch: aredis.Redis, intent_id: str, published: float, placed: dict[str, Any],
                  seen: float, into: dict[str, list[float]]) -> None:
    """Where one live intent's time went (after the timed part: this read is not timed)."""
    newest = await watch.xrevrange(streams.ORDER_REQUESTS, count=5)
    requests = [b for _i, f in newest if isinstance(b := decode_entry(f), dict)
                and b.get("intent_id") == intent_id]
    if not requests:
        return
    requested, answered = _epoch(requests[0]), _epoch(placed)
    into["executor"].append((requested - published) * 1000)
    into["gateway"].append((answered - requested) * 1000)
    into["back"].append((seen - answered) * 1000)


async def _await_order_event(watch: aredis.Redis, last: Any, intent_id: str,
                             timeout: float) -> tuple[str, Any, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = await watch.xread({streams.ORDER_EVENTS: last}, block=1000, count=10)
        for _stream, entries in got or []:
            for entry_id, fields in entries:
                last = entry_id
                body = decode_entry(fields)
                if isinstance(body, dict) and body.get("intent_id") == intent_id:
                    return str(body.get("type")), last, body
    return "timeout", last, {}


async def paper_throughput(live: LiveStack, n: int, tick: Tick) -> dict[str, Any]:
    """Backlog of ``n`` paper intents behind paused executors, then released."""
    executors = [c.proc for c in live.children("executor") if c.proc is not None]
    bus = Bus(live.redis_url, "bench")
    await bus.broker.connect()
    try:
        before = await bus.redis.xlen(streams.TRADES) if await bus.redis.exists(streams.TRADES) else 0
        for proc in executors:
            proc.send_signal(signal.SIGSTOP)
        try:
            intents = [OrderIntent(user_id=f"paper-{i % 50}", symbol="BTC/USDT",
                                   amount_usd=Decimal(2), source="bench",
                                   await_outcome=False).model_dump(mode="json")
                       for i in range(n)]
            for chunk in range(0, n, 50):
                await asyncio.gather(*(bus.broker.publish(body, stream=streams.INTENTS,
                                                          maxlen=streams.maxlen(streams.INTENTS))
                                       for body in intents[chunk:chunk + 50]))
        finally:
            # read while the executors are stopped: every CPU tick after this is the backlog's
            cpu_before = [cpu_seconds(proc.pid) for proc in executors]
            redis_pid = live.stack.redis_proc.pid if live.stack.redis_proc is not None else None
            redis_before = cpu_seconds(redis_pid) if redis_pid else 0.0
            started = time.perf_counter()
            for proc in executors:
                proc.send_signal(signal.SIGCONT)
        done = 0
        deadline = time.monotonic() + max(60.0, n / 25)  # drained in full, so runs don't mix
        while done < n and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            now = await bus.redis.xlen(streams.TRADES) - before
            tick(now - done)
            done = now
        took = time.perf_counter() - started
        cpu = sum(cpu_seconds(proc.pid) - b for proc, b in zip(executors, cpu_before, strict=True))
        redis_cpu = cpu_seconds(redis_pid) - redis_before if redis_pid else None
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()
    return {"n": n, "logged": done, "seconds": round(took, 3),
            "intents_per_s": round(done / took, 1), "executors": len(executors),
            "executor_cpu_s": round(cpu, 3),
            "cpu_s_per_1000": round(cpu / done * 1000, 3) if done else None,
            "redis_cpu_s_per_1000": round(redis_cpu / done * 1000, 3)
            if done and redis_cpu is not None else None}


async def kill_to_last_order(live: LiveStack, user: str, api_key: str, trials: int,
                             tick: Tick) -> dict[str, Any]:
    """Per trial: intents every ~2 ms; kill at a random moment; newest accepted order − kill."""
    bus = Bus(live.redis_url, "bench")
    await bus.broker.connect()
    samples: list[float] = []
    after: list[int] = []
    rng = random.Random(9)
    try:
        for _ in range(trials):
            seen = {o["orderId"] for o in live.admin.orders(api_key=api_key)}
            stop = asyncio.Event()
            feeder = asyncio.create_task(_feed(bus, user, stop))
            await asyncio.sleep(0.15 + rng.random() * 0.1)
            killed_ms = time.time() * 1000
            await state.halt(bus.redis, "bench", "kill switch trial")
            await asyncio.sleep(0.3)
            stop.set()
            await feeder
            await asyncio.sleep(0.2)
            new = [o for o in live.admin.orders(api_key=api_key) if o["orderId"] not in seen]
            late = [o["time"] - killed_ms for o in new if o["time"] >= killed_ms]
            after.append(len(late))
            samples.append(max(late, default=0.0))
            await state.resume(bus.redis)
            tick(1)
    finally:
        await state.resume(bus.redis)
        await bus.broker.stop()
        await bus.redis.aclose()
    return summary(samples) | {"trials": trials, "orders_after_kill": sum(after)}


async def _feed(bus: Bus, user: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await bus.publish(OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2),
                                      source="bench-kill"), streams.INTENTS)
        await asyncio.sleep(0.002)
