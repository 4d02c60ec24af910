"""What WAIT costs each durable write on the live path: p50/p99 with and without it.

``python -m bench.durable_writes [--n 2000] [--out bench/durable_writes.json]``

A primary, a replica and three sentinels on free loopback ports (``piggy.ha_redis``, what
``piggy up --ha`` runs), clients through Sentinel (``shared.redis_conn``). Each write is the
real one: the gateway's marker claim (``CidMarkers.admit``, Lua), its outcome MULTI (marker,
ORDER_EVENTS entry, ack: ``services.gateway.intake.commit``'s shape), the accepted intent
(``Bus.publish_durable``: XADD) and the executor's commit script (``Ledger.commit`` with one
order request), each ``n`` times one after another, with ``Durability(0)`` (no WAIT) and
``Durability(1)`` (WAIT 1 after it, pipelined). Every process is stopped by its pid.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.harness import free_port
from bench.stats import summary
from piggy.child import Child
from piggy.ha_redis import HaPorts, HaRedis
from services.executor.ledger import Ledger, Writes
from shared import redis_conn, streams
from shared.bus import Bus, frame
from shared.cids import CidMarkers
from shared.cids import key as marker_key
from shared.durable import Durability
from shared.events import OrderIntent, OrderRequested


def _row(samples_s: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in samples_s]
    stats = summary(ms)
    return {"p50_ms": stats["p50_ms"], "p99_ms": stats["p99_ms"],
            "mean_ms": round(statistics.fmean(ms), 3)}


async def _interleaved(n: int, ops: dict[str, Callable[[int], Awaitable[Any]]]
                       ) -> dict[str, dict[str, float]]:
    """Each variant once per round, alternately, so a busy neighbour slows both alike."""
    for i in range(min(50, n)):  # warm-up: connections, script cache
        for op in ops.values():
            await op(-1 - i)
    samples: dict[str, list[float]] = {k: [] for k in ops}
    for i in range(n):
        for label, op in ops.items():
            began = time.perf_counter()
            await op(i)
            samples[label].append(time.perf_counter() - began)
    return {label: _row(s) for label, s in samples.items()}


class _Writes:
    """The four durable writes of the live path, made with one ``Durability``."""

    def __init__(self, url: str, client: Any, label: str, replicas: int, intent: OrderIntent,
                 request: OrderRequested) -> None:
        self.label, self.client, self.intent, self.request = label, client, intent, request
        self.durability = Durability(replicas, 1000)
        self.markers = CidMarkers(client, "bench-gw", stale_after_s=10,
                                  durability=self.durability)
        self.ledger = Ledger(client, self.durability)
        self.bus = Bus(url, "bench", f"bench-{label}", durability=self.durability)

    async def marker_claim(self, i: int) -> Any:
        return await self.markers.admit(f"{self.label}-{i}", "piggy:price:none")

    async def gateway_outcome_multi(self, i: int) -> Any:
        def queue(pipe: Any) -> None:
            pipe.set(marker_key(f"{self.label}-o{i}"), self.markers.value("done", "1"), ex=60)
            pipe.xadd(streams.ORDER_EVENTS, {"__data__": frame(self.request)},
                      maxlen=streams.maxlen(streams.ORDER_EVENTS))
            pipe.xack(streams.ORDER_REQUESTS, "bench", "0-1")

        return await self.durability.multi(self.client, queue, write="bench")

    async def intent_publish(self, _i: int) -> Any:
        return await self.bus.publish_durable(self.intent, streams.INTENTS)

    async def executor_commit(self, _i: int) -> Any:
        w = Writes()
        w.xadd(streams.ORDER_REQUESTS, self.request)
        return await self.ledger.commit(w.ops)


WRITES = ("marker_claim", "gateway_outcome_multi", "intent_publish", "executor_commit")


async def measure(url: str, n: int) -> dict[str, dict[str, dict[str, float]]]:
    client = redis_conn.async_client(url, decode_responses=True)
    intent = OrderIntent(user_id="bench", symbol="BTC/USDT", amount_usd="2")
    request = OrderRequested(intent_id=intent.intent_id, client_order_id="c", user_id="bench",
                             exchange="binanceus", symbol="BTC/USDT", side="buy",
                             amount_usd="2", live=True, requested_by="bench")
    await client.xgroup_create(streams.ORDER_REQUESTS, "bench", id="0", mkstream=True)
    variants = {label: _Writes(url, client, label, replicas, intent, request)
                for label, replicas in (("off", 0), ("wait_1", 1))}
    for v in variants.values():
        await v.bus.broker.connect()
    try:
        return {write: await _interleaved(n, {label: getattr(v, write)
                                              for label, v in variants.items()})
                for write in WRITES}
    finally:
        for v in variants.values():
            await v.bus.broker.stop()
            await v.bus.redis.aclose()
        await client.aclose()


def run(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="piggy-durable-") as tmp:
        root = Path(tmp)
        ports = HaPorts(free_port(), free_port(), (free_port(), free_port(), free_port()))

        def child(name: str, argv: list[str], url: str, env: dict[str, str], **kw: Any) -> Child:
            return Child(name, argv, url, env, root / f"{name}.log", **kw)

        ha = HaRedis(root / "ha", ports, child)
        try:
            for c in ha.plan():
                c.start()
                deadline = time.monotonic() + 20
                while not c.healthy()[0]:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{c.name} did not start:\n{c.log_tail()}")
                    time.sleep(0.05)
            ha.wait_replicated()
            rows = asyncio.run(measure(ha.url, n))
        finally:
            for c in reversed(ha.children or []):
                c.stop(10.0)
    return {"n": n, "topology": "primary + 1 replica + 3 sentinels on loopback, via Sentinel",
            "writes": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.n)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
