"""Backtest: the same strategy classes over a generated or CSV series; intents and P&L."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from services.strategy import backtest as bt
from services.strategy.base import IntentDraft, Strategy, StrategyConfig
from services.strategy.config import KINDS, parse
from services.strategy.crossover import Crossover
from shared.events import Side

pytestmark = pytest.mark.unit
BASE = {"user_id": "alice", "symbol": "BTC/USDT"}
XO = {**BASE, "name": "x", "kind": "crossover", "fast": 1, "slow": 3, "amount_usd": "10"}
DCA = {**BASE, "name": "pig", "kind": "dca", "amount_usd": "5", "interval_s": 600,
       "budget_usd": "15"}


def test_generated_series_is_deterministic() -> None:
    a, b = bt.generated_series(points=50), bt.generated_series(points=50)
    assert [(t.event_id, t.ts, t.last) for t in a] == [(t.event_id, t.ts, t.last) for t in b]


def test_crossover_backtest_emits_at_the_known_crossings_and_values_the_book(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    prices = [10, 9, 8, 9, 11, 12, 10, 8, 7, 9, 12]
    csv.write_text("ts,price\n" + "".join(f"{1700000000 + 60 * i},{p}\n" for i, p in enumerate(prices)))
    configs = parse({"strategies": [XO]})
    result = bt.run(configs, bt.read_csv(csv))
    assert [(d.price, d.side) for _, d in result.intents] == [
        (Decimal(9), Side.BUY), (Decimal(10), Side.SELL), (Decimal(9), Side.BUY)]
    # buy 10 at 9, sell 10 USD worth at 10 (1 coin of 1.111), buy 10 at 9; last price 12
    expected = -10 + 10 - 10 + (Decimal(10) / 9 - 1 + Decimal(10) / 9) * 12
    assert abs(result.pnl("x", "BTC/USDT") - expected) < Decimal("1e-20")


def test_dca_backtest_buys_every_interval_until_the_budget_is_spent() -> None:
    configs = parse({"strategies": [DCA]})
    result = bt.run(configs, bt.generated_series(points=60, step_s=60))
    assert [d.intent_id for _, d in result.intents] == ["dca:pig:0", "dca:pig:1", "dca:pig:2"]
    assert result.books["pig"].invested == Decimal(15)
    assert any("budget spent" in n for _, n in result.notes)
    assert "pig" in "\n".join(bt.report(result, configs))


class Boom(Strategy[StrategyConfig, Crossover.State]):
    Config = StrategyConfig
    State = Crossover.State

    def on_tick(self, now) -> list[IntentDraft]:  # type: ignore[no-untyped-def]
        raise RuntimeError("kaboom")

    def status(self, now):  # type: ignore[no-untyped-def]
        return {}


def test_a_raising_strategy_is_isolated_in_the_backtest_too() -> None:
    kinds = {**KINDS, "boom": Boom}
    configs = parse({"strategies": [XO, {**BASE, "name": "b", "kind": "boom"}]}, kinds=kinds)
    result = bt.run(configs, bt.generated_series(points=120), kinds)
    assert result.failed == {"b": "RuntimeError: kaboom"}
    assert result.intents and all(name == "x" for name, _ in result.intents)
