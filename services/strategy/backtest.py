"""Backtest: replay a ticker series through the same strategy classes the runner uses.

Each ticker is one step: the ticker is fed (``on_ticker``), then the clock ticks at the
ticker's time (``on_tick``). Every intent fills at once at that ticker's price and the strategy
hears the outcome (``on_outcome``), like a paper fill on the live path. The P&L is simple:
cash spent and received, the coins held valued at the last price; no fees, no slippage.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.strategy.base import IntentDraft, Strategy, StrategyConfig
from services.strategy.config import KINDS, Kinds, build
from services.strategy.runner import to_intent
from shared.events import Mode, Side, Ticker, TradeLogged

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Book:
    cash: Decimal = Decimal(0)
    qty: Decimal = Decimal(0)
    buys: int = 0
    sells: int = 0
    invested: Decimal = Decimal(0)
    proceeds: Decimal = Decimal(0)

    def fill(self, side: Side, amount: Decimal, price: Decimal) -> Decimal:
        if side == Side.BUY:
            qty = amount / price
            self.cash -= amount
            self.qty += qty
            self.buys += 1
            self.invested += amount
            return qty
        qty = min(self.qty, amount / price)
        self.cash += qty * price
        self.qty -= qty
        self.sells += 1
        self.proceeds += qty * price
        return qty


@dataclass
class Result:
    intents: list[tuple[str, IntentDraft]] = field(default_factory=list)
    books: dict[str, Book] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    last_price: dict[str, Decimal] = field(default_factory=dict)

    def pnl(self, name: str, symbol: str) -> Decimal:
        book = self.books[name]
        return book.cash + book.qty * self.last_price.get(symbol, Decimal(0))


def generated_series(symbol: str = "BTC/USDT", exchange: str = "binanceus", *, points: int = 240,
                     base: Decimal = Decimal(100), amplitude: float = 10.0, period: int = 60,
                     step_s: float = 60.0, start: datetime = EPOCH) -> list[Ticker]:
    """A deterministic sine wave around ``base``: its averages cross at known places."""
    out = []
    for i in range(points):
        price = base + Decimal(str(round(amplitude * math.sin(2 * math.pi * i / period), 2)))
        out.append(Ticker(event_id=f"bt-{i:06d}", ts=start + timedelta(seconds=i * step_s),
                          exchange=exchange, symbol=symbol, symbol_id=symbol.replace("/", ""),
                          last=price))
    return out


def read_csv(path: Path, symbol: str = "BTC/USDT", exchange: str = "binanceus") -> list[Ticker]:
    """Rows with a time (``ts``/``timestamp``/``time``: ISO or epoch seconds) and a price
    (``price``/``last``/``close``); an optional ``symbol`` column overrides ``symbol``."""
    out = []
    with path.open(newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            raw_ts = row.get("ts") or row.get("timestamp") or row.get("time") or ""
            raw_price = row.get("price") or row.get("last") or row.get("close") or ""
            if not raw_ts or not raw_price:
                raise ValueError(f"{path}:{i + 2}: needs a time and a price column")
            try:
                ts = datetime.fromtimestamp(float(raw_ts), UTC)
            except ValueError:
                ts = datetime.fromisoformat(raw_ts)
                ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
            sym = row.get("symbol") or symbol
            out.append(Ticker(event_id=f"csv-{i:06d}", ts=ts, exchange=exchange, symbol=sym,
                              symbol_id=sym.replace("/", ""), last=Decimal(raw_price)))
    return out


def run(configs: list[StrategyConfig], tickers: list[Ticker], kinds: Kinds = KINDS) -> Result:
    result = Result()
    live: dict[str, Strategy[Any, Any]] = {c.name: build(c, None, kinds) for c in configs}
    result.books = {name: Book() for name in live}
    for ticker in tickers:
        result.last_price[ticker.symbol] = ticker.last
        for name, strat in list(live.items()):
            try:
                _step(strat, ticker, result)
            except Exception as exc:  # same isolation as the runner
                result.failed[name] = f"{type(exc).__name__}: {exc}"
                del live[name]
    return result


def _step(strat: Strategy[Any, Any], ticker: Ticker, result: Result) -> None:
    now = ticker.ts
    drafts = strat.on_ticker(ticker, now) + strat.on_tick(now)
    for draft in drafts:
        price = ticker.last if draft.symbol == ticker.symbol else result.last_price[draft.symbol]
        qty = result.books[strat.name].fill(draft.side, draft.amount_usd, price)
        intent = to_intent(strat.config, draft)
        result.intents.append((strat.name, draft))
        strat.on_outcome(TradeLogged(
            intent_id=intent.intent_id, user_id=intent.user_id, exchange=intent.exchange,
            symbol=intent.symbol, side=intent.side, amount_usd=intent.amount_usd,
            mode=Mode.PAPER, status="filled", price=price, filled=qty, cost=qty * price,
            source=intent.source, route="backtest"), now)
    result.notes += [(strat.name, n) for n in strat.drain_notes()]


def report(result: Result, configs: list[StrategyConfig]) -> list[str]:
    lines = ["intents:"]
    for name, d in result.intents:
        price = f"{d.price:.2f}" if d.price is not None else "?"
        lines.append(f"  {d.at.isoformat()}  {name:<12} {d.side.value.upper():<4} "
                     f"{d.amount_usd} USD {d.symbol} @ {price}  {d.intent_id}  ({d.reason})")
    if not result.intents:
        lines.append("  (none)")
    lines.append("P&L (no fees, no slippage; holdings at the last price):")
    for c in configs:
        b = result.books[c.name]
        last = result.last_price.get(c.symbol, Decimal(0))
        lines.append(f"  {c.name:<12} buys={b.buys} sells={b.sells} invested={b.invested:.2f} "
                     f"proceeds={b.proceeds:.2f} held={b.qty:.8f} {c.symbol} @ {last:.2f} "
                     f"pnl={result.pnl(c.name, c.symbol):.2f} USD")
    for name, err in result.failed.items():
        lines.append(f"  {name:<12} FAILED: {err}")
    return lines
