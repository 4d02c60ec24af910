"""CPU per live intent: live intents at a steady rate, each service's CPU time over the run.

The sequential run of ``measure.live_latency`` has one intent in flight; this one publishes
``rate`` intents a second for ``seconds`` on a fixed schedule (not waiting for outcomes, as a
strategy with many users would), then waits until every intent has its trade-log line. Each
process's user + system CPU time (``/proc/<pid>/stat``: every thread) is read just before the
first publish and when the last line is in; divided by the intents it is the CPU per live
intent. What the processes spend idle (heartbeats, claimers, blocking reads timing out) is
measured over ``idle_s`` before the run and also reported subtracted.

Publish → the gateway's ``OrderPlaced`` on the order-events stream is timed per intent too:
the latency at this rate, queueing included.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any

from redis.client import NEVER_DECODE

from bench.harness import LiveStack, cpu_seconds
from bench.stats import cpu_deltas, cpu_ms_per_intent, net_of_idle, summary
from shared import redis_conn, streams
from shared.bus import Bus, decode_entry
from shared.events import OrderIntent

PROFILED = ("executor", "gateway")


def process_pids(live: LiveStack) -> dict[str, int]:
    """The pid of every running process of the stack, by name (Redis included)."""
    out = {c.name: c.proc.pid for c in [*live.stack.children, *live.extra]
           if c.proc is not None and c.proc.poll() is None}
    if live.stack.redis_proc is not None:
        out["redis"] = live.stack.redis_proc.pid
    return out


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each process that is still there."""
    out: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            out[name] = cpu_seconds(pid)
        except OSError:
            continue
    return out


async def paced_live(live: LiveStack, user: str, rate: float, seconds: float,
                     tick: Any = None, idle_s: float = 2.0) -> dict[str, Any]:
    """``rate`` × ``seconds`` live $2 buys of ``user`` (funded and armed), on schedule."""
    n = max(1, round(rate * seconds))
    pids = process_pids(live)
    bus = Bus(live.redis_url, "bench")
    watch = redis_conn.async_client(live.redis_url)
    await bus.broker.connect()
    published: dict[str, float] = {}
    placed: dict[str, float] = {}
    lines: dict[str, str] = {}
    try:
        idle_before = cpu_snapshot(pids)
        await asyncio.sleep(idle_s)
        idle = {k: v / idle_s for k, v in cpu_deltas(idle_before, cpu_snapshot(pids)).items()}
        cursors = {s: await _last_id(watch, s) for s in (streams.ORDER_EVENTS, streams.TRADES)}
        intents = [OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2),
                               source="bench-paced") for _ in range(n)]
        wanted = {i.intent_id for i in intents}
        reader = asyncio.create_task(_follow(watch, cursors, wanted, published, placed, lines,
                                             tick))
        before = cpu_snapshot(pids)
        began = time.perf_counter()
        late = 0.0
        for k, intent in enumerate(intents):
            due = began + k / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            else:
                late = max(late, -wait)
            published[intent.intent_id] = time.perf_counter()
            await bus.publish(intent, streams.INTENTS)
        publishing = time.perf_counter() - began
        with contextlib.suppress(TimeoutError):  # reported below: intents without a line
            await asyncio.wait_for(reader, timeout=max(30.0, seconds * 3))
        window = time.perf_counter() - began
        spent = cpu_deltas(before, cpu_snapshot(pids))
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()
        await watch.aclose()
    statuses: dict[str, int] = {}
    for status in lines.values():
        statuses[status] = statuses.get(status, 0) + 1
    latency = [(placed[i] - published[i]) * 1000 for i in placed if i in published]
    return {"n": n, "rate_per_s": rate, "seconds": seconds,
            "publish_s": round(publishing, 3), "window_s": round(window, 3),
            "achieved_rate_per_s": round(n / publishing, 1) if publishing > 0 else None,
            "max_behind_schedule_ms": round(late * 1000, 1),
            "lines": len(lines), "statuses": statuses, "placed": len(placed),
            "placed_latency": summary(latency),
            "cpu_s": spent, "idle_cpu_s_per_s": {k: round(v, 4) for k, v in idle.items()},
            "cpu_ms_per_intent": {name: cpu_ms_per_intent(s, len(lines)) for name, s in spent.items()},
            "cpu_ms_per_intent_net_of_idle": {
                name: cpu_ms_per_intent(net_of_idle(s, idle.get(name, 0.0), window), len(lines))
                for name, s in spent.items()}}


async def _last_id(watch: Any, stream: str) -> str:
    if not await watch.exists(stream):
        return "0-0"
    last = (await watch.xinfo_stream(stream))["last-generated-id"]
    return last.decode() if isinstance(last, bytes) else str(last)


async def _follow(watch: Any, cursors: dict[str, str], wanted: set[str],
                  published: dict[str, float], placed: dict[str, float], lines: dict[str, str],
                  tick: Any) -> None:
    """Reads the order-events and trade streams until every wanted intent has its line."""
    while len(lines) < len(wanted):
        names = list(cursors)
        got = await watch.execute_command("XREAD", "COUNT", 500, "BLOCK", 500, "STREAMS", *names,
                                          *(cursors[s] for s in names), **{NEVER_DECODE: True})
        now = time.perf_counter()
        for raw_stream, entries in got or []:
            stream = raw_stream.decode() if isinstance(raw_stream, bytes) else raw_stream
            for entry_id, fields in entries:
                cursors[stream] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                body = decode_entry(fields)
                if not isinstance(body, dict) or body.get("intent_id") not in wanted:
                    continue
                intent_id = str(body["intent_id"])
                if stream == streams.ORDER_EVENTS and body.get("type") == "OrderPlaced":
                    placed.setdefault(intent_id, now)
                elif stream == streams.TRADES and body.get("type") == "TradeLogged" \
                        and intent_id not in lines:
                    lines[intent_id] = str(body.get("status"))
                    if tick is not None:
                        tick(1)
