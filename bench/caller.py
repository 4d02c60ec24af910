"""Intent → trade line seen by the caller: what a person running ``piggy test-buy`` waits.

The wait goes through ``outcome_seen`` alone, which calls the product's own caller-side wait
(``piggy.ops.wait_outcome``): however the product learns an intent's outcome — polling the
trade log today, one blocking read once the executor writes a per-intent outcome — the bench
measures that path without changing. The intent is published the way the same caller does
(``Bus.publish_durable``), one at a time.
"""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from bench.harness import LiveStack
from bench.measure import Tick
from bench.stats import summary
from piggy import ops
from shared import streams
from shared.bus import Bus
from shared.events import OrderIntent

WARMUP = 5
TIMEOUT_S = 10.0


async def outcome_seen(bus: Bus, intent_id: str, timeout_s: float) -> Any:
    """The intent's outcome as the product's callers get it (None: none within the time)."""
    return await ops.wait_outcome(bus, intent_id, timeout_s)


async def trade_line_latency(live: LiveStack, user: str, n: int, tick: Tick) -> dict[str, Any]:
    """``n`` live $2 buys one after another: publish → the caller holds the trade line."""
    bus = Bus(live.redis_url, "bench")
    await bus.broker.connect()
    samples: list[float] = []
    failures: list[str] = []
    try:
        for i in range(n + WARMUP):
            intent = OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2),
                                 source="bench-caller")
            started = time.perf_counter()
            await bus.publish_durable(intent, streams.INTENTS)
            line = await outcome_seen(bus, intent.intent_id, TIMEOUT_S)
            took = (time.perf_counter() - started) * 1000
            status = str(getattr(line, "status", "")) if line is not None else "timeout"
            if status != "filled":
                failures.append(f"{intent.intent_id}: {status}")
            elif i >= WARMUP:
                samples.append(took)
            tick(1)
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()
    return summary(samples) | {"failed": len(failures), "failures": failures[:5],
                               "wait": f"{ops.wait_outcome.__module__}.{ops.wait_outcome.__name__}"}
