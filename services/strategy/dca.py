"""DCA "piggy bank": buy a fixed USD amount every interval until a total budget is spent.

Period ``n`` starts at ``anchor + n * interval``. At most one intent per period, with the
deterministic id ``dca:<name>:<n>``; nothing is bought for periods that passed while the
strategy was not running (no catch-up burst). A period is skipped, with a note saying why,
while the previous intent has no outcome yet or the budget cannot cover another buy.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.strategy.base import IntentDraft, Strategy, StrategyConfig, outcome_spent
from shared.events import Side, Ticker, TradeLogged
from shared.types import Amount


class DcaConfig(StrategyConfig):
    kind: Literal["dca"] = "dca"
    amount_usd: Amount
    interval_s: float = Field(gt=0)
    budget_usd: Decimal = Field(gt=0)
    start_at: datetime | None = None


class DcaState(BaseModel):
    model_config = ConfigDict(frozen=True)

    anchor: datetime | None = None
    last_period: int = -1
    spent: Decimal = Decimal(0)
    in_flight: str | None = None
    in_flight_amount: Decimal = Decimal(0)
    buys: int = 0
    last_skip: str = ""
    last_price: Decimal | None = None


class Dca(Strategy[DcaConfig, DcaState]):
    Config = DcaConfig
    State = DcaState

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.config.interval_s)

    def period(self, now: datetime) -> int:
        anchor = self.state.anchor or now
        if now < anchor:
            return -1
        return (now - anchor) // self.interval

    def intent_id(self, period: int) -> str:
        return f"dca:{self.config.name}:{period}"

    def next_due(self, now: datetime) -> datetime | None:
        anchor = self.state.anchor or self.config.start_at
        if anchor is None:
            return now
        current = self.period(now)
        if current > self.state.last_period:
            return max(now, anchor)
        return anchor + (self.state.last_period + 1) * self.interval

    def on_ticker(self, ticker: Ticker, now: datetime) -> list[IntentDraft]:
        if ticker.symbol == self.config.symbol:
            self.state = self.state.model_copy(update={"last_price": ticker.last})
        return []

    def on_tick(self, now: datetime) -> list[IntentDraft]:
        if self.state.anchor is None:
            self.state = self.state.model_copy(update={"anchor": self.config.start_at or now})
        n = self.period(now)
        if n <= self.state.last_period:
            return []
        cfg, st = self.config, self.state
        if st.in_flight is not None:
            return self._skip(n, f"previous intent {st.in_flight} has not finished")
        if st.spent + cfg.amount_usd > cfg.budget_usd:
            return self._skip(n, f"budget spent: {st.spent} of {cfg.budget_usd} USD")
        intent_id = self.intent_id(n)
        self.state = st.model_copy(update={
            "last_period": n,
            "spent": st.spent + cfg.amount_usd,
            "in_flight": intent_id,
            "in_flight_amount": cfg.amount_usd,
            "buys": st.buys + 1,
            "last_skip": "",
        })
        return [IntentDraft(intent_id=intent_id, symbol=cfg.symbol, side=Side.BUY,
                            amount_usd=cfg.amount_usd, at=now, price=st.last_price,
                            reason=f"dca period {n}")]

    def _skip(self, period: int, why: str) -> list[IntentDraft]:
        text = f"period {period} skipped: {why}"
        if text != self.state.last_skip:  # say it once per period and reason, not every tick
            self.note(text)
            self.state = self.state.model_copy(update={"last_skip": text})
        return []

    def on_outcome(self, trade: TradeLogged, now: datetime) -> list[IntentDraft]:
        st = self.state
        if trade.intent_id != st.in_flight:
            return []
        spent = st.spent if outcome_spent(trade) else st.spent - st.in_flight_amount
        if not outcome_spent(trade):
            self.note(f"{trade.intent_id} ended {trade.status} ({trade.mode}); "
                      f"{st.in_flight_amount} USD back in the budget")
        self.state = st.model_copy(update={"in_flight": None, "in_flight_amount": Decimal(0),
                                           "spent": spent})
        return []

    def awaiting(self) -> list[str]:
        return [self.state.in_flight] if self.state.in_flight else []

    def status(self, now: datetime) -> dict[str, Any]:
        due = self.next_due(now)
        return {
            "spent": format(self.state.spent, "f"),
            "budget": format(self.config.budget_usd, "f"),
            "buys": self.state.buys,
            "next_due": due.isoformat() if due else "",
            "in_flight": self.state.in_flight or "",
            "last_skip": self.state.last_skip,
        }
