"""The strategy interface: a pure core fed tickers and clock ticks, returning intent drafts.

A strategy is built from its configuration (a frozen pydantic model) and its state (a
pydantic model the runner loads from and saves to Redis). Its methods take the time as an
argument, never read a clock, do no I/O, and replace ``self.state`` with the new state.
Why a strategy did *not* act goes to ``self.notes`` for the runner to log.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.events import Mode, Side, Ticker, TradeLogged
from shared.types import Amount, Exchange, Symbol, UserId

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,23}$"
FAILED_STATUSES = {"rejected", "failed", "error", "canceled", "cancelled", "expired"}


class StrategyConfig(BaseModel):
    """What every strategy is configured with; each kind adds its own fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    kind: str
    user_id: UserId
    exchange: Exchange = "binanceus"
    symbol: Symbol
    enabled: bool = True


class IntentDraft(BaseModel):
    """An intent a strategy wants sent; the runner adds user, source and envelope."""

    model_config = ConfigDict(frozen=True)

    intent_id: str = Field(min_length=1, max_length=64)
    symbol: Symbol
    side: Side
    amount_usd: Amount
    at: datetime
    price: Decimal | None = None
    reason: str = ""


C = TypeVar("C", bound=StrategyConfig)
S = TypeVar("S", bound=BaseModel)


class Strategy(ABC, Generic[C, S]):
    """Subclass with ``Config`` and ``State`` models; override what the strategy reacts to."""

    Config: ClassVar[type[StrategyConfig]]
    State: ClassVar[type[BaseModel]]

    def __init__(self, config: C, state: S | None = None) -> None:
        self.config: C = config
        self.state: S = state if state is not None else self.State()  # type: ignore[assignment]
        self.notes: list[str] = []

    @classmethod
    def from_json(cls, config: C, state_json: str | None) -> Strategy[C, S]:
        state = cls.State.model_validate_json(state_json) if state_json else None
        return cls(config, state)  # type: ignore[arg-type]

    @property
    def name(self) -> str:
        return self.config.name

    def on_ticker(self, ticker: Ticker, now: datetime) -> list[IntentDraft]:
        """A market price arrived. Default: ignore it."""
        return []

    def on_tick(self, now: datetime) -> list[IntentDraft]:
        """The clock ticked. Default: nothing to do."""
        return []

    def on_outcome(self, trade: TradeLogged, now: datetime) -> list[IntentDraft]:
        """One of this strategy's intents finished (see ``awaiting``). Default: ignore."""
        return []

    def awaiting(self) -> list[str]:
        """Intent ids whose outcome this strategy is waiting for."""
        return []

    @abstractmethod
    def status(self, now: datetime) -> dict[str, Any]:
        """Fields for ``piggy strategy status`` (spent, next due, ...)."""

    def note(self, text: str) -> None:
        self.notes.append(text)

    def drain_notes(self) -> list[str]:
        out, self.notes = self.notes, []
        return out


def outcome_spent(trade: TradeLogged) -> bool:
    """True when the trade log line means the money was (really or on paper) spent."""
    return trade.mode != Mode.NONE and trade.status.lower() not in FAILED_STATUSES
