"""Market fixture (``markets.json``) and the seeded random-walk price feed.

Prices are Decimals quantized to each symbol's ``tickSize``. The walk takes one step per
market-data request for a symbol (ticker/24hr, ticker/price, bookTicker, depth), and each
symbol has its own RNG derived from ``(seed, symbol)``, so the price sequence a client sees
for a symbol depends only on the seed and on how many times that symbol was quoted.
A pinned price (admin API) does not walk until it is unpinned or the sandbox is reset.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).with_name("markets.json")
STEP_SIGMA = 0.0005  # 5 bps per step


@dataclass(frozen=True)
class MarketSpec:
    """The trading rules of one symbol, parsed from its exchangeInfo entry."""

    symbol: str
    base: str
    quote: str
    tick: Decimal
    min_price: Decimal
    max_price: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    max_notional: Decimal
    apply_min_to_market: bool
    apply_max_to_market: bool
    base_precision: int
    quote_precision: int
    order_types: tuple[str, ...]
    info: dict[str, Any] = field(compare=False, repr=False)

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> MarketSpec:
        f = {flt["filterType"]: flt for flt in info["filters"]}
        price, lot = f["PRICE_FILTER"], f["LOT_SIZE"]
        mlot = f.get("MARKET_LOT_SIZE", lot)
        notional = f.get("NOTIONAL") or {
            "minNotional": f.get("MIN_NOTIONAL", {}).get("minNotional", "0"),
            "maxNotional": "9000000000", "applyMinToMarket": True, "applyMaxToMarket": False}
        return cls(
            symbol=info["symbol"], base=info["baseAsset"], quote=info["quoteAsset"],
            tick=Decimal(price["tickSize"]), min_price=Decimal(price["minPrice"]),
            max_price=Decimal(price["maxPrice"]), step=Decimal(lot["stepSize"]),
            min_qty=Decimal(lot["minQty"]), max_qty=Decimal(lot["maxQty"]),
            market_min_qty=Decimal(mlot["minQty"]), market_max_qty=Decimal(mlot["maxQty"]),
            min_notional=Decimal(notional["minNotional"]),
            max_notional=Decimal(notional["maxNotional"]),
            apply_min_to_market=bool(notional.get("applyMinToMarket", True)),
            apply_max_to_market=bool(notional.get("applyMaxToMarket", False)),
            base_precision=int(info.get("baseAssetPrecision", 8)),
            quote_precision=int(info.get("quoteAssetPrecision", info.get("quotePrecision", 8))),
            order_types=tuple(info["orderTypes"]), info=info,
        )

    def round_price(self, value: Decimal) -> Decimal:
        """Nearest valid price (a multiple of the tick, at least one tick)."""
        return max(self.tick, (value / self.tick).to_integral_value(ROUND_HALF_EVEN) * self.tick)

    def floor_qty(self, value: Decimal) -> Decimal:
        return (value / self.step).to_integral_value(ROUND_DOWN) * self.step


@dataclass(frozen=True)
class Fixture:
    markets: dict[str, MarketSpec]
    start_prices: dict[str, Decimal]


def load_fixture(path: Path = FIXTURE) -> Fixture:
    doc = json.loads(path.read_text())
    markets = {s["symbol"]: MarketSpec.from_info(s) for s in doc["symbols"]}
    prices = {sym: Decimal(p) for sym, p in doc["prices"].items()}
    missing = set(markets) - set(prices)
    if missing:
        raise ValueError(f"markets.json: no start price for {sorted(missing)}")
    return Fixture(markets, prices)


def _symbol_seed(seed: int, symbol: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{symbol}".encode()).digest()[:8], "big")


@dataclass
class Quote:
    """Live price state of one symbol plus its rolling 24h statistics."""

    price: Decimal
    open: Decimal
    high: Decimal
    low: Decimal
    rng: random.Random
    pinned: bool = False
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    trades: int = 0

    def set(self, price: Decimal) -> None:
        self.price = price
        self.high = max(self.high, price)
        self.low = min(self.low, price)


class PriceFeed:
    """Current prices for every market; ``step`` advances the walk, ``pin`` freezes it."""

    def __init__(self, fixture: Fixture, seed: int) -> None:
        self.markets = fixture.markets
        self.quotes: dict[str, Quote] = {}
        for sym, spec in fixture.markets.items():
            p = spec.round_price(fixture.start_prices[sym])
            self.quotes[sym] = Quote(p, p, p, p, random.Random(_symbol_seed(seed, sym)))

    def price(self, symbol: str) -> Decimal:
        return self.quotes[symbol].price

    def step(self, symbol: str) -> Decimal:
        """One random-walk step (no-op when pinned); returns the new price."""
        q = self.quotes[symbol]
        if not q.pinned:
            ret = Decimal(repr(round(q.rng.gauss(0.0, STEP_SIGMA), 12)))
            q.set(self.markets[symbol].round_price(q.price * (1 + ret)))
        return q.price

    def pin(self, symbol: str, price: Decimal | None) -> None:
        """Fix ``symbol`` at ``price`` (rounded to the tick); ``None`` resumes the walk."""
        q = self.quotes[symbol]
        if price is None:
            q.pinned = False
            return
        q.set(self.markets[symbol].round_price(price))
        q.pinned = True

    def record_trade(self, symbol: str, qty: Decimal, quote_qty: Decimal) -> None:
        q = self.quotes[symbol]
        q.volume += qty
        q.quote_volume += quote_qty
        q.trades += 1
