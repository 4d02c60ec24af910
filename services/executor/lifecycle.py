"""The life of one intent, in one place: its statuses, which transitions exist, and the
ledger record that holds them. Pure: no Redis, no clock.

    received ─▶ decided ─┬─▶ routed ─┬─▶ placed
                         │           ├─▶ rejected   (the exchange refused; reservation released)
                         │           └─▶ unknown    (no answer after every lookup; reservation kept)
                         ├─▶ paper_filled
                         └─▶ rejected               (a gate closed and paper is off)

Terminal statuses never change again: a late or duplicate outcome is reported, not applied.
The ledger scripts (``ledger.py``) check every status write against ``TRANSITIONS`` inside
Redis, from the table below rendered as Lua, so replicas racing on one intent can't disagree.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from shared.events import OrderIntent, TradeLogged


class IntentStatus(StrEnum):
    RECEIVED = "received"
    DECIDED = "decided"
    ROUTED = "routed"
    PLACED = "placed"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    PAPER_FILLED = "paper_filled"


S = IntentStatus
TRANSITIONS: dict[IntentStatus, frozenset[IntentStatus]] = {
    S.RECEIVED: frozenset({S.DECIDED}),
    S.DECIDED: frozenset({S.ROUTED, S.PAPER_FILLED, S.REJECTED}),
    S.ROUTED: frozenset({S.PLACED, S.REJECTED, S.UNKNOWN}),
    S.PLACED: frozenset(),
    S.REJECTED: frozenset(),
    S.UNKNOWN: frozenset(),
    S.PAPER_FILLED: frozenset(),
}
TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


class IllegalTransition(ValueError):
    def __init__(self, current: IntentStatus | None, target: IntentStatus) -> None:
        super().__init__(f"intent cannot go from {current or 'nothing'} to {target}")
        self.current, self.target = current, target


def allowed(current: IntentStatus | None, target: IntentStatus) -> bool:
    """Whether ``current`` → ``target`` exists. Repeating the current status is allowed (a
    redelivery re-doing a step is a no-op); nothing leaves a terminal status."""
    if current is None:
        return target is S.RECEIVED
    return target == current or target in TRANSITIONS[current]


def advance(current: IntentStatus | None, target: IntentStatus) -> IntentStatus:
    if not allowed(current, target):
        raise IllegalTransition(current, target)
    return target


def lua_table() -> str:
    """``TRANSITIONS`` as a Lua table literal: ``{received={decided=true}, ...}``."""
    rows = ", ".join(f"{cur.value}={{{', '.join(f'{n.value}=true' for n in sorted(nxt))}}}"
                     for cur, nxt in TRANSITIONS.items())
    return "{" + rows + "}"


class IntentRecord(BaseModel):
    """The ledger hash of one intent (``piggy:ledger:<intent id>``), field by field."""

    model_config = ConfigDict(frozen=True)

    claimed_by: str = ""
    status: IntentStatus | None = None
    intent: OrderIntent | None = None
    routed: str = ""  # the live route taken (gateway | direct), set with the reservation
    reserved: int = 0  # micro-dollars held against the daily cap
    spend_key: str = ""
    released: bool = False
    lookups: int = 0  # reconciliation rounds so far
    outcome: TradeLogged | None = None

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> IntentRecord:
        return cls(
            claimed_by=raw.get("claimed_by", ""),
            status=IntentStatus(raw["status"]) if raw.get("status") else None,
            intent=OrderIntent.model_validate_json(raw["intent"]) if raw.get("intent") else None,
            routed=raw.get("routed", ""),
            reserved=int(raw.get("reserved") or 0),
            spend_key=raw.get("spend_key", ""),
            released=raw.get("released") == "1",
            lookups=int(raw.get("lookups") or 0),
            outcome=TradeLogged.model_validate_json(raw["outcome"]) if raw.get("outcome") else None,
        )

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class OutcomeAction(StrEnum):
    LOG = "log"  # record the outcome and write its trade line
    LOOKUP = "lookup"  # status unknown at the exchange: ask again (same client order id)
    IGNORE = "ignore"  # nothing to do (unknown intent, or already terminal)


@dataclass(frozen=True)
class OutcomePlan:
    action: OutcomeAction
    status: IntentStatus | None = None
    release: bool = False
    why: str = ""


def plan_outcome(record: IntentRecord | None, *, placed: bool, status_unknown: bool,
                 rounds_left: bool) -> OutcomePlan:
    """What an order outcome (``OrderPlaced``/``OrderRejected``) does to an intent.

    A placed order → placed. A refusal → rejected, its reservation given back. "Status
    unknown" (the order may or may not exist) → another lookup while rounds are left, then
    unknown with the reservation kept (the money may be spent). A terminal intent stays as it
    is: a late or repeated outcome changes nothing."""
    if record is None or record.intent is None:
        return OutcomePlan(OutcomeAction.IGNORE, why="unknown intent")
    if record.terminal:
        return OutcomePlan(OutcomeAction.IGNORE, why=f"already {record.status}")
    if placed:
        return OutcomePlan(OutcomeAction.LOG, S.PLACED)
    if status_unknown:
        if rounds_left:
            return OutcomePlan(OutcomeAction.LOOKUP)
        return OutcomePlan(OutcomeAction.LOG, S.UNKNOWN)
    return OutcomePlan(OutcomeAction.LOG, S.REJECTED, release=True)
