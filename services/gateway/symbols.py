"""Is this a real market, and what does it cost now? Checked before an intent is published.

An order is only worth publishing for an exchange this gateway serves and a symbol that
exists in that exchange's market data; the price the executor fills paper at is the
exchange's own ticker, fetched here when the ticker loop does not already keep it, and the
fee and rounding rules it fills paper by are the market's own, kept here next to the price.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis.asyncio as aredis

from services.gateway.handlers import Runtime
from shared import state
from shared.exchange import UnknownSymbol, to_decimal
from shared.paperfill import MarketRules

log = logging.getLogger("piggy.gateway.symbols")


@dataclass(frozen=True)
class Checked:
    """``symbol`` is the unified name when ``error`` is empty; else ``status`` is the HTTP code."""

    symbol: str = ""
    error: str = ""
    status: int = 200
    close: tuple[str, ...] = ()


async def check(rt: Runtime, redis: aredis.Redis, exchange: str, symbol: str) -> Checked:
    if exchange not in rt.exchanges:
        return Checked(error=f"exchange {exchange!r} is not served by this gateway "
                             f"(serves: {', '.join(rt.exchanges)})", status=422)
    try:
        market = await rt.pool.market(exchange, symbol)
    except UnknownSymbol as exc:
        return Checked(error=str(exc), status=422, close=tuple(exc.close))
    except Exception as exc:  # noqa: BLE001 - no market data: no telling real from made up
        return Checked(error=f"{exchange} market data unavailable ({type(exc).__name__}); "
                             "try again shortly", status=503)
    unified = str(market["symbol"])
    await _keep_rules(rt, redis, exchange, market)
    if await state.last_price(redis, exchange, unified) is None:
        await _fetch_price(rt, redis, exchange, unified)
    return Checked(symbol=unified)


async def _keep_rules(rt: Runtime, redis: aredis.Redis, exchange: str,
                      market: dict[str, Any]) -> None:
    """The market's fee and rounding rules, so the executor's paper fill follows them."""
    public = await rt.pool.public(exchange)
    rules = MarketRules.from_ccxt(exchange, market, public.precisionMode).to_json()
    for name in {str(market["symbol"]), str(market["id"])}:
        await state.set_market_rules(redis, exchange, name, rules)


async def _fetch_price(rt: Runtime, redis: aredis.Redis, exchange: str, symbol: str) -> Decimal | None:
    """The exchange's last price for ``symbol``, kept like the ticker loop keeps it; None (and
    the executor rejects the intent for want of a price) when the exchange has none."""
    try:
        public = await rt.pool.public(exchange)
        ticker = await rt.pool.read(exchange, lambda: public.fetch_ticker(symbol))
    except Exception as exc:  # noqa: BLE001 - any failure: no price, the executor says so
        log.warning("no ticker for %s on %s: %s", symbol, exchange, type(exc).__name__)
        return None
    last = ticker.get("last") or ticker.get("close")
    if not last:
        return None
    price = to_decimal(last)
    await state.set_last_price(redis, exchange, symbol, price)
    return price
