"""Moving-average crossover: pure core, known series, cool-down measured on ticker time."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.strategy.crossover import Crossover, CrossoverConfig
from shared.events import Side, Ticker

pytestmark = pytest.mark.unit
T0 = datetime(2025, 1, 1, tzinfo=UTC)
# fast=1 (the price) against slow=3: crosses up at 3, down at 6, up at 9
SERIES = [10, 9, 8, 9, 11, 12, 10, 8, 7, 9, 12]


def xo(**over: object) -> Crossover:
    cfg = {"name": "x", "user_id": "alice", "symbol": "BTC/USDT", "fast": 1, "slow": 3, "amount_usd": "10"}
    return Crossover(CrossoverConfig.model_validate({**cfg, **over, "kind": "crossover"}))


def ticker(i: int, price: float, symbol: str = "BTC/USDT") -> Ticker:
    return Ticker(event_id=f"t{i}", ts=T0 + timedelta(minutes=i), exchange="binanceus",
                  symbol=symbol, symbol_id=symbol.replace("/", ""), last=Decimal(str(price)))


def feed(s: Crossover, prices: list[float]) -> list[tuple[int, Side]]:
    out = []
    for i, p in enumerate(prices):
        t = ticker(i, p)
        out += [(i, d.side) for d in s.on_ticker(t, t.ts)]
    return out


def test_signals_exactly_at_the_crossings_of_a_known_series() -> None:
    assert feed(xo(), SERIES) == [(3, Side.BUY), (6, Side.SELL), (9, Side.BUY)]


def test_intent_id_comes_from_the_ticker_so_a_redelivery_cannot_double_it() -> None:
    s = xo()
    ids = [d.intent_id for i, p in enumerate(SERIES) for d in s.on_ticker(ticker(i, p), T0)]
    assert ids == ["xo:x:t3", "xo:x:t6", "xo:x:t9"]


def test_cooldown_suppresses_a_signal_and_says_so() -> None:
    s = xo(cooldown_s=200)  # the 6th ticker is 180 s after the signal at 3
    assert feed(s, SERIES) == [(3, Side.BUY), (9, Side.BUY)]
    assert any("cool-down" in n for n in s.drain_notes())
    assert s.state.suppressed == 1


def test_sell_off_only_buys() -> None:
    assert feed(xo(sell=False), SERIES) == [(3, Side.BUY), (9, Side.BUY)]


def test_old_or_repeated_tickers_and_other_symbols_are_ignored() -> None:
    s = xo()
    feed(s, SERIES[:4])
    before = s.state
    assert s.on_ticker(ticker(2, 100), T0) == []  # older than the last one seen
    assert s.on_ticker(ticker(3, 100), T0) == []  # the same one again
    assert s.on_ticker(ticker(20, 1, symbol="ETH/USDT"), T0) == []
    assert s.state == before


def test_state_round_trips_through_json_mid_series() -> None:
    s = xo()
    feed(s, SERIES[:5])
    again = Crossover.from_json(s.config, s.state.model_dump_json())
    out = [(i, d.side) for i, p in enumerate(SERIES) if i >= 5
           for d in again.on_ticker(ticker(i, p), T0)]
    assert out == [(6, Side.SELL), (9, Side.BUY)]


def test_fast_must_be_shorter_than_slow() -> None:
    with pytest.raises(ValidationError, match="fast"):
        xo(fast=5, slow=5)
