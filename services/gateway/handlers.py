"""Gateway bus handlers and background loops.

Handlers (thin: decode → core → publish):
  ORDER_REQUESTS / "gateway"  OrderRequested batch → orderflow.decide → marker + ORDER_EVENTS
                              + ack in one MULTI (``intake``)
  BALANCES       / "gateway"  QueryBalance   → balances.fetch_report → reply (BalanceReport)
  CREDENTIALS    (followed by every replica, no group) a key replaced, refused or revoked →
                              the cached exchange client of that user dropped (``pool.evict``)
Loops: heartbeats (state + HEALTH stream), tickers (TICKERS stream + last prices), markets
refresh. The exchange pool lives in ``ctx.extras["gateway"]`` and is closed in ``stop``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from services.gateway import balances, intake
from services.gateway.context import GatewayContext
from shared import orderflow, state, streams
from shared.bus import Batch
from shared.cids import CidMarkers
from shared.events import (
    CredentialsEvent,
    CredentialsValidated,
    Heartbeat,
    OrderRequested,
    QueryBalance,
    Ticker,
)
from shared.exchange import UnknownSymbol, make_exchange, to_decimal
from shared.exchanges import EXCHANGES
from shared.exchanges.budget import RateBudgetSettings
from shared.exchanges.gate import ExchangeGate
from shared.exchanges.pool import ExchangePool
from shared.paperfill import MarketRules

log = logging.getLogger("piggy.gateway")
DEFAULT_EXCHANGES = EXCHANGES[:1]
STOP_TIMEOUT_S = 5.0
# Order requests per read: handled one after the other, each settled (and acked) as it is done,
# so the last of a batch waits for the exchange calls of those before it (well under the
# claim idle time).
ORDER_BATCH = 16


@dataclass
class Runtime:
    pool: ExchangePool
    markers: CidMarkers
    instance_id: str
    exchanges: tuple[str, ...] = DEFAULT_EXCHANGES
    clock: Callable[[], float] = time.time
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    last_beat: float | None = None

    @property
    def loops_alive(self) -> bool:
        return bool(self.tasks) and not any(t.done() for t in self.tasks)


def runtime(ctx: GatewayContext) -> Runtime:
    return ctx.extras["gateway"]


def register(ctx: GatewayContext) -> None:
    """Build the exchange pool and declare subscribers on ``ctx.bus`` (before the broker starts).

    ``ctx.extras`` may carry ``exchange_factory`` (a ``make_exchange``-shaped callable),
    ``clock``, ``exchanges`` (the exchanges for tickers and heartbeats) and ``rate_budget``
    (``RateBudgetSettings``) to override defaults.
    """
    clock = ctx.extras.get("clock", time.time)
    gate = ExchangeGate(ctx.bus.redis, ctx.extras.get("rate_budget") or RateBudgetSettings(),
                        ctx.exchange.exchange_timeout_ms)
    pool = ExchangePool(ctx.exchange, ctx.vault,
                        factory=ctx.extras.get("exchange_factory", make_exchange), gate=gate)
    stale = 2 * ctx.exchange.exchange_timeout_ms / 1000 + 5
    rt = Runtime(pool=pool, instance_id=ctx.bus.consumer, clock=clock,
                 markers=CidMarkers(ctx.bus.redis, ctx.bus.consumer, stale_after_s=stale,
                                    clock=clock, durability=ctx.bus.durability),
                 exchanges=tuple(ctx.extras.get("exchanges") or ctx.exchange.configured()))
    ctx.extras["gateway"] = rt
    deps = orderflow.OrderDeps(pool=pool, redis=ctx.bus.redis, markers=rt.markers)

    @ctx.bus.consume_batch(streams.ORDER_REQUESTS, "gateway", OrderRequested,
                           max_records=ORDER_BATCH)
    async def on_order_requested(batch: Batch) -> None:
        await intake.on_order_requests(ctx.bus, deps, batch)

    @ctx.bus.follow(streams.CREDENTIALS, CredentialsEvent)
    async def on_credentials(event: Any) -> None:
        """New, refused or revoked keys: the next order of that user reads the vault again."""
        if not isinstance(event, CredentialsValidated):
            await pool.evict(event.user_id, event.exchange)

    @ctx.bus.consume(streams.BALANCES, "gateway", QueryBalance)
    async def on_query_balance(query: QueryBalance) -> dict[str, Any]:
        report = await balances.fetch_report(pool, ctx.bus.redis, query.user_id, query.exchange)
        return report.model_dump(mode="json")


async def start(ctx: GatewayContext) -> None:
    """Start background loops (heartbeats, tickers, markets refresh)."""
    rt = runtime(ctx)
    settings = ctx.gateway
    stop_on = rt.stopping
    rt.tasks = [
        asyncio.create_task(_every(settings.heartbeat_interval_s, lambda: beat(ctx), "heartbeat",
                                   stop_on)),
        asyncio.create_task(_every(settings.ticker_interval_s, lambda: tickers(ctx), "tickers",
                                   stop_on)),
        asyncio.create_task(_every(settings.markets_refresh_s, rt.pool.refresh_markets,
                                   "markets", stop_on, first_delay=settings.markets_refresh_s)),
    ]


async def stop(ctx: GatewayContext) -> None:
    """Stop background loops and close exchange clients."""
    rt = ctx.extras.get("gateway")
    if rt is None:
        return
    rt.stopping.set()  # loops end on this even if a library swallowed a cancellation
    for task in rt.tasks:
        task.cancel()
    if rt.tasks:
        _, stuck = await asyncio.wait(rt.tasks, timeout=STOP_TIMEOUT_S)
        for task in stuck:
            log.warning("background loop %s did not stop in %.0fs", task.get_name(), STOP_TIMEOUT_S)
    await rt.pool.close()


async def _every(interval: float, job: Callable[[], Awaitable[Any]], name: str,
                 stopping: asyncio.Event, *, first_delay: float = 0.0) -> None:
    """Run ``job`` every ``interval`` seconds until ``stopping`` is set; a failing run is
    logged and never ends the loop."""
    if await _wait(stopping, first_delay):
        return
    while not stopping.is_set():
        started = time.monotonic()
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s loop: %s: %s", name, type(exc).__name__, str(exc)[:200])
        if await _wait(stopping, interval - (time.monotonic() - started)):
            return


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; True as soon as ``event`` is set."""
    try:
        await asyncio.wait_for(event.wait(), max(0.0, seconds))
    except TimeoutError:
        return False
    return True


async def beat(ctx: GatewayContext) -> None:
    rt = runtime(ctx)
    now = rt.clock()
    names = sorted(set(rt.exchanges) | set(rt.pool.reachable))  # configured, and any in use
    rtts = [rt.pool.rtt_ms[e] for e in names if e in rt.pool.rtt_ms]
    await state.record_heartbeat(ctx.bus.redis, rt.instance_id, now)
    await ctx.bus.publish(Heartbeat(service="gateway", instance_id=rt.instance_id,
                                    exchanges={e: bool(rt.pool.reachable.get(e))
                                               for e in names},
                                    rtt_ms=max(rtts) if rtts else None), streams.HEALTH)
    rt.last_beat = now


async def tickers(ctx: GatewayContext) -> None:
    """Fetch the subscribed symbols' tickers (public endpoint) and publish them."""
    rt = runtime(ctx)
    for exchange in rt.exchanges:  # one exchange failing must not stop the others' tickers
        try:
            await _tickers_of(ctx, rt, exchange)
        except Exception as exc:
            log.warning("tickers of %s: %s: %s", exchange, type(exc).__name__, str(exc)[:200])


async def _tickers_of(ctx: GatewayContext, rt: Runtime, exchange: str) -> None:
    public = await rt.pool.public(exchange)
    markets = []
    for symbol in ctx.gateway.ticker_symbols:
        try:
            markets.append(await rt.pool.market(exchange, symbol))
        except UnknownSymbol as exc:
            log.debug("ticker symbol skipped: %s", exc)
    if not markets:
        return
    symbols = [m["symbol"] for m in markets]
    found = await rt.pool.read(exchange, partial(public.fetch_tickers, symbols))
    for market in markets:
        ticker = found.get(market["symbol"])
        last = (ticker or {}).get("last") or (ticker or {}).get("close")
        if not last:
            continue
        price = to_decimal(last)
        rules = MarketRules.from_ccxt(exchange, market, public.precisionMode).to_json()
        for name in {market["symbol"], market["id"]}:
            await state.set_last_price(ctx.bus.redis, exchange, name, price)
            await state.set_market_rules(ctx.bus.redis, exchange, name, rules)
        bid, ask = ticker.get("bid"), ticker.get("ask")
        await ctx.bus.publish(Ticker(exchange=exchange, symbol=market["symbol"],
                                     symbol_id=market["id"], last=price,
                                     bid=to_decimal(bid) if bid else None,
                                     ask=to_decimal(ask) if ask else None), streams.TICKERS)
