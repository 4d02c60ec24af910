"""A live run under faults: intents published at a steady pace while processes are SIGKILLed
and restarted, the sandbox fails order requests, and (optionally) Redis restarts.

``drive`` runs it and returns a ``ChaosReport``; ``tests/chaos`` asserts on the report. The
ground truth is the sandbox's own order list (by client order id) and the trade log.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis.asyncio as aredis

from bench.harness import LiveStack, pending_count, stream_bodies, trade_lines, wait_healthy
from piggy.stack import Child
from services.executor.routing import client_order_id
from shared import redis_conn, streams
from shared.bus import Bus
from shared.events import OrderIntent
from shared.exchanges import DEFAULT_EXCHANGE, TEST_SYMBOLS, adapter

# Each exchange's order endpoint at its sandbox venue (where the faults are installed).
ORDER_ENDPOINTS = {"binanceus": "POST /api/v3/order", "binance": "POST /api/v3/order",
                   "kraken": "POST /0/private/AddOrder",
                   "coinbase": "POST /api/v3/brokerage/orders"}
# (kind, probability, extra) on the order endpoint; seeded, so a run is reproducible.
FAULTS: list[tuple[str, float, dict[str, Any]]] = [
    ("http5xx", 0.04, {}),
    ("rate_limit", 0.04, {}),
    ("latency", 0.10, {"latency_ms": 40}),
    ("lost_response", 0.04, {"latency_ms": 0}),       # executed, connection closed at once
    ("lost_response", 0.01, {"latency_ms": 4000}),    # executed, answer never comes: timeout
]
CONSUMED = [(streams.INTENTS, "executor"), (streams.ORDER_REQUESTS, "gateway"),
            (streams.ORDER_EVENTS, "executor")]


@dataclass
class ChaosReport:
    exchange: str = DEFAULT_EXCHANGE
    intents: list[str] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    orphaned_at_kill: int = 0
    redis_restarts: int = 0
    publish_retries: int = 0
    orders: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    pending_after: dict[str, int] = field(default_factory=dict)
    dead_consumers_pending: dict[str, int] = field(default_factory=dict)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    faults_fired: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    # ---- the verdicts ----------------------------------------------------------------
    def duplicate_orders(self) -> dict[str, int]:
        counts = Counter(o["clientOrderId"] for o in self.orders)
        return {cid: n for cid, n in counts.items() if n > 1}

    def outcomes_per_intent(self) -> Counter[str]:
        return Counter(ln["intent_id"] for ln in self.lines if ln["intent_id"] in set(self.intents))

    def lost(self) -> list[str]:
        have = self.outcomes_per_intent()
        return [i for i in self.intents if have[i] == 0]

    def logged_twice(self) -> list[str]:
        return [i for i, n in self.outcomes_per_intent().items() if n > 1]

    def mismatches(self) -> list[str]:
        """Orders at the exchange whose intent's line does not say LIVE with that order id,
        and LIVE-placed lines without an order at the exchange."""
        sent_as = adapter(self.exchange).client_order_id  # the id the exchange saw
        cid_to_intent = {sent_as(client_order_id(i)): i for i in self.intents}
        line_by_intent = {ln["intent_id"]: ln for ln in self.lines}
        out = []
        for order in self.orders:
            intent = cid_to_intent.get(order["clientOrderId"])
            line = line_by_intent.get(intent or "")
            if intent is None:
                out.append(f"order {order['orderId']} with unknown cid {order['clientOrderId']}")
            elif line is None or line.get("order_id") != _order_id(order):
                out.append(f"order {order['orderId']} for {intent}: line says "
                           f"{(line or {}).get('mode')} {(line or {}).get('status')} "
                           f"{'; '.join((line or {}).get('reasons') or [])[:300]}")
        at_exchange = {_order_id(o) for o in self.orders}
        for ln in self.lines:
            if ln.get("mode") == "LIVE" and ln.get("status") != "rejected" \
                    and ln.get("order_id") not in at_exchange:
                out.append(f"line {ln['intent_id']} LIVE {ln.get('order_id')} not at the exchange")
        return out

    def summary(self) -> dict[str, Any]:
        statuses = Counter(f"{ln.get('mode')} {ln.get('status')}" for ln in self.lines
                           if ln["intent_id"] in set(self.intents))
        return {"exchange": self.exchange, "intents": len(self.intents),
                "kills": len(self.kills),
                "orphaned_at_kill": self.orphaned_at_kill, "redis_restarts": self.redis_restarts,
                "orders_at_sandbox": len(self.orders), "duplicates": len(self.duplicate_orders()),
                "lost": len(self.lost()), "logged_twice": len(self.logged_twice()),
                "mismatches": len(self.mismatches()), "outcomes": dict(statuses),
                "pending_after": self.pending_after, "dead_letters": len(self.dead_letters),
                "dead_letter_reasons": [f"{d.get('stream')}: {str(d.get('reason'))[:200]}"
                                        for d in self.dead_letters[:5]],
                "faults_fired": self.faults_fired, "publish_retries": self.publish_retries,
                "seconds": round(self.seconds, 1)}


def _order_id(order: dict[str, Any]) -> str:
    """The exchange's own order id (kraken txid, coinbase order_id, binance orderId)."""
    return str(order.get("venue_order_id") or order["orderId"])


def install_faults(live: LiveStack, seed: int, exchange: str = DEFAULT_EXCHANGE) -> None:
    for i, (kind, p, extra) in enumerate(FAULTS):
        live.admin_for(exchange).add_fault(endpoint=ORDER_ENDPOINTS[exchange], kind=kind,
                                           probability=p, seed=seed + i, **extra)


async def drive(live: LiveStack, *, user: str, api_key: str, n: int, kills: int,
                seconds: float, seed: int = 7,
                restart_redis: Callable[[], None] | None = None, redis_events: int = 1,
                settle_s: float = 120.0, say: Callable[[str], None] = lambda _m: None,
                exchange: str = DEFAULT_EXCHANGE, amount: Decimal = Decimal(2)) -> ChaosReport:
    """Publish ``n`` intents over ``seconds`` with ``kills`` SIGKILLs spread over the same
    time (and ``redis_events`` Redis restarts or primary kills, evenly spaced, when
    ``restart_redis`` is given), then wait for
    every outcome (bounded by ``settle_s``) and collect the evidence."""
    report = ChaosReport(exchange=exchange)
    rng = random.Random(seed)
    began = time.monotonic()
    bus = Bus(live.admin_url, "chaos")
    await bus.broker.connect()
    watch = redis_conn.async_client(live.admin_url, decode_responses=True)
    try:
        publisher = asyncio.create_task(_publish(bus, user, n, seconds, report, amount))
        killer = asyncio.create_task(_kill_loop(live, watch, kills, seconds, rng, report,
                                                restart_redis, say, redis_events))
        await publisher
        await killer
        say(f"published {n}, {len(report.kills)} kills; waiting for outcomes")
        await _settle(live, watch, report, settle_s)
        await _collect(live, watch, report, api_key)
    finally:
        await _safe_close(bus, watch)
    report.seconds = time.monotonic() - began
    return report


async def _publish(bus: Bus, user: str, n: int, seconds: float, report: ChaosReport,
                   amount: Decimal) -> None:
    gap = seconds / max(n, 1)
    for _ in range(n):
        intent = OrderIntent(user_id=user, symbol=TEST_SYMBOLS[report.exchange],
                             exchange=report.exchange, amount_usd=amount, source="chaos")
        report.intents.append(intent.intent_id)
        for attempt in range(200):  # Redis may be restarting: the same intent again
            try:
                await bus.publish_durable(intent, streams.INTENTS)
                break
            except Exception:  # any failure while Redis restarts: retry
                report.publish_retries += 1
                await asyncio.sleep(0.1 if attempt < 199 else 0)
        await asyncio.sleep(gap)


async def _kill_loop(live: LiveStack, watch: aredis.Redis, kills: int, seconds: float,
                     rng: random.Random, report: ChaosReport,
                     restart_redis: Callable[[], None] | None, say: Callable[[str], None],
                     redis_events: int = 1) -> None:
    moments = sorted(rng.uniform(0.05, 0.95) * seconds for _ in range(kills))
    redis_moments = ([seconds * (i + 1) / (redis_events + 1) for i in range(redis_events)]
                     if restart_redis else [])
    started = time.monotonic()

    async def redis_event() -> None:
        assert restart_redis is not None
        await _wait_until(started + redis_moments.pop(0))
        say("Redis event (restart / primary kill)")
        await asyncio.to_thread(restart_redis)
        report.redis_restarts += 1

    for at in moments:
        while redis_moments and at > redis_moments[0]:
            await redis_event()
        await _wait_until(started + at)
        victim = rng.choice(live.children("executor") + live.children("gateway"))
        await _kill_and_restart(victim, watch, report, rng)
        say(f"kill {len(report.kills)}/{kills}: {victim.name}")
    while redis_moments:
        await redis_event()


async def _kill_and_restart(victim: Child, watch: aredis.Redis, report: ChaosReport,
                            rng: random.Random) -> None:
    assert victim.proc is not None
    name = await _consumer_name(victim)
    victim.proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(victim.proc.wait, 10)
    report.kills.append(f"{victim.name} pid {victim.proc.pid}")
    if name:
        for stream, group in CONSUMED:
            report.orphaned_at_kill += await _pending_of(watch, stream, group, name)
    await asyncio.sleep(rng.uniform(0.1, 0.8))
    victim.start()
    await asyncio.to_thread(wait_healthy, victim, 30.0)


async def _consumer_name(child: Child) -> str:
    """The consumer name the child's bus uses (its /healthz says it)."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            return str((await client.get(child.health_url)).json().get("instance", ""))
    except (httpx.HTTPError, ValueError):
        return ""


async def _pending_of(watch: aredis.Redis, stream: str, group: str, consumer: str) -> int:
    try:
        rows = await _again(lambda: watch.xpending_range(stream, group, min="-", max="+",
                                                         count=10_000, consumername=consumer))
    except aredis.ResponseError:
        return 0
    return len(rows)


async def _again(call: Callable[[], Any], attempts: int = 20) -> Any:
    """The driver's own reads, retried while Redis restarts (its pooled connections die)."""
    for attempt in range(attempts):
        try:
            return await call()
        except (aredis.ConnectionError, aredis.TimeoutError, OSError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.25)
    raise AssertionError("unreachable")


async def _wait_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def _settle(live: LiveStack, watch: aredis.Redis, report: ChaosReport,
                  timeout: float) -> None:
    deadline = time.monotonic() + timeout
    wanted = set(report.intents)
    while time.monotonic() < deadline:
        lines = await _again(lambda: trade_lines(live.admin_url))
        done = {ln["intent_id"] for ln in lines} & wanted
        pending = [await _again(lambda s=s, g=g: pending_count(watch, s, g)) for s, g in CONSUMED]
        if len(done) == len(wanted) and not any(pending):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.5)  # anything still arriving (a second line would show up here)


async def _collect(live: LiveStack, watch: aredis.Redis, report: ChaosReport,
                   api_key: str) -> None:
    admin = live.admin_for(report.exchange)
    report.orders = list(admin.orders(api_key=api_key))
    report.lines = await trade_lines(live.admin_url)
    for stream, group in CONSUMED:
        report.pending_after[f"{stream}/{group}"] = await pending_count(watch, stream, group)
        try:
            consumers = await watch.xinfo_consumers(stream, group)
        except aredis.ResponseError:
            consumers = []
        alive = {await _consumer_name(c) for c in live.children("executor")
                 + live.children("gateway")}
        for c in consumers:
            if c["name"] not in alive and c["pending"]:
                report.dead_consumers_pending[f"{stream}/{c['name']}"] = c["pending"]
    report.dead_letters = [d for d in await stream_bodies(watch, streams.DEAD_LETTER)
                           if d.get("stream") in {s for s, _ in CONSUMED}]
    report.faults_fired = {f"{r['kind']}#{r['id']}": r.get("fired", 0)
                           for r in admin.faults()}


async def _safe_close(bus: Bus, watch: aredis.Redis) -> None:
    for close in (bus.broker.stop, bus.redis.aclose, watch.aclose):
        with contextlib.suppress(Exception):  # closing after a restart must not hide the report
            await close()
