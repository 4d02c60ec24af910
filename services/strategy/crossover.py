"""Moving-average crossover: buy when the fast average crosses above the slow one, sell when
it crosses below, at most one signal per cool-down.

Time comes from the tickers themselves (``ticker.ts``), so a replayed series gives the same
signals in a backtest and in the live runner. A ticker not newer than the last one seen is
ignored, which makes a redelivered ticker harmless. The intent id is derived from the
ticker's event id: a ticker can cause at most one intent, however often it is delivered.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.strategy.base import IntentDraft, Strategy, StrategyConfig
from shared.events import Side, Ticker
from shared.types import Amount


class CrossoverConfig(StrategyConfig):
    kind: Literal["crossover"] = "crossover"
    fast: int = Field(ge=1)
    slow: int = Field(ge=2)
    amount_usd: Amount
    cooldown_s: float = Field(default=0, ge=0)
    sell: bool = True

    @model_validator(mode="after")
    def _fast_below_slow(self) -> CrossoverConfig:
        if self.fast >= self.slow:
            raise ValueError(f"fast ({self.fast}) must be smaller than slow ({self.slow})")
        return self


class CrossoverState(BaseModel):
    model_config = ConfigDict(frozen=True)

    prices: tuple[Decimal, ...] = ()
    last_ts: datetime | None = None
    relation: int = 0  # +1 fast above slow, -1 below, 0 unknown
    last_signal_ts: datetime | None = None
    signals: int = 0
    suppressed: int = 0


def mean(values: tuple[Decimal, ...]) -> Decimal:
    return sum(values, Decimal(0)) / len(values)


class Crossover(Strategy[CrossoverConfig, CrossoverState]):
    Config = CrossoverConfig
    State = CrossoverState

    def on_ticker(self, ticker: Ticker, now: datetime) -> list[IntentDraft]:
        cfg, st = self.config, self.state
        if ticker.symbol != cfg.symbol or ticker.exchange != cfg.exchange:
            return []
        if st.last_ts is not None and ticker.ts <= st.last_ts:
            return []
        prices = (st.prices + (ticker.last,))[-cfg.slow:]
        update: dict[str, Any] = {"prices": prices, "last_ts": ticker.ts}
        drafts: list[IntentDraft] = []
        if len(prices) == cfg.slow:
            fast, slow = mean(prices[-cfg.fast:]), mean(prices)
            relation = 1 if fast > slow else -1 if fast < slow else st.relation
            update["relation"] = relation
            if st.relation != 0 and relation != st.relation:
                side = Side.BUY if relation > 0 else Side.SELL
                drafts = self._signal(ticker, side, fast, slow, update)
        self.state = st.model_copy(update=update)
        return drafts

    def _signal(self, ticker: Ticker, side: Side, fast: Decimal, slow: Decimal,
                update: dict[str, Any]) -> list[IntentDraft]:
        cfg, st = self.config, self.state
        what = f"fast MA {fast:.4f} crossed {'above' if side == Side.BUY else 'below'} slow MA {slow:.4f}"
        if side == Side.SELL and not cfg.sell:
            self.note(f"{what}: selling is off")
            return []
        cooldown = timedelta(seconds=cfg.cooldown_s)
        if st.last_signal_ts is not None and ticker.ts - st.last_signal_ts < cooldown:
            self.note(f"{what} at {ticker.last}: within the {cfg.cooldown_s}s cool-down")
            update["suppressed"] = st.suppressed + 1
            return []
        update["last_signal_ts"] = ticker.ts
        update["signals"] = st.signals + 1
        return [IntentDraft(intent_id=f"xo:{cfg.name}:{ticker.event_id[:32]}", symbol=cfg.symbol,
                            side=side, amount_usd=cfg.amount_usd, at=ticker.ts,
                            price=ticker.last, reason=what)]

    def status(self, now: datetime) -> dict[str, Any]:
        st = self.state
        return {
            "signals": st.signals,
            "suppressed": st.suppressed,
            "last_price": format(st.prices[-1], "f") if st.prices else "",
            "last_signal": st.last_signal_ts.isoformat() if st.last_signal_ts else "",
        }
