"""Live gates: values in, one open/closed verdict per gate out, each with a readable reason.

Pure: no clock, no Redis, no environment. The caller gathers a ``GateInputs`` snapshot.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from shared.state import TradingState


class Gate(StrEnum):
    ALLOW_LIVE = "allow_live"
    CREDENTIALS = "credentials"
    GATEWAY_HEARTBEAT = "gateway_heartbeat"
    ARMED = "armed"
    KILL_SWITCH = "kill_switch"
    DRY_RUN = "dry_run"
    MIN_AMOUNT = "min_amount"
    MAX_AMOUNT = "max_amount"
    DAILY_CAP = "daily_cap"


@dataclass(frozen=True)
class Credentials:
    """What the credentials service last concluded about a user's key."""

    status: str = "missing"  # missing | pending | validated | rejected | revoked
    can_trade: bool = False
    error: str = ""


@dataclass(frozen=True)
class GateInputs:
    allow_live: bool
    credentials: Credentials
    heartbeat_age_s: float | None
    heartbeat_max_age_s: float
    armed: bool
    trading_state: TradingState
    dry_run: bool
    amount_usd: Decimal
    min_trade_usd: Decimal
    max_trade_usd: Decimal
    spent_today_usd: Decimal
    daily_cap_usd: Decimal


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    open: bool
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"gate": self.gate.value, "open": self.open, "reason": self.reason}


def _credentials(c: Credentials) -> tuple[bool, str]:
    if c.status == "validated" and c.can_trade:
        return True, "API keys validated with the exchange and allowed to trade"
    if c.status == "validated":
        return False, "API keys are valid but have no trading permission at the exchange"
    if c.status == "missing":
        return False, "no API keys saved for this user and exchange"
    if c.status == "pending":
        return False, "API keys are still being validated with the exchange"
    detail = f": {c.error}" if c.error else ""
    return False, f"API keys are {c.status}{detail}"


def _heartbeat(age: float | None, max_age: float) -> tuple[bool, str]:
    if age is None:
        return False, "no gateway heartbeat has ever been seen"
    if age > max_age:
        return False, f"gateway heartbeat is {age:.1f}s old (limit {max_age:g}s)"
    return True, f"gateway heartbeat {age:.1f}s old"


def evaluate(i: GateInputs, *, include_amount: bool = True) -> list[GateResult]:
    """Every gate in a fixed order. ``include_amount=False`` is for arming (no trade yet)."""
    cred_open, cred_reason = _credentials(i.credentials)
    hb_open, hb_reason = _heartbeat(i.heartbeat_age_s, i.heartbeat_max_age_s)
    halted = i.trading_state is TradingState.HALTED
    results = [
        GateResult(Gate.ALLOW_LIVE, i.allow_live,
                   "ALLOW_LIVE=1 is set for the executor" if i.allow_live
                   else "live trading is not allowed: ALLOW_LIVE=1 is not set in the executor's environment"),
        GateResult(Gate.CREDENTIALS, cred_open, cred_reason),
        GateResult(Gate.GATEWAY_HEARTBEAT, hb_open, hb_reason),
        GateResult(Gate.ARMED, i.armed,
                   "live trading is armed for this user on this exchange" if i.armed
                   else "live trading is not armed for this user on this exchange "
                        "(piggy live arm --exchange …)"),
        GateResult(Gate.KILL_SWITCH, not halted,
                   "emergency stop is engaged: run `piggy resume` to trade again" if halted
                   else "emergency stop is off"),
        GateResult(Gate.DRY_RUN, not i.dry_run,
                   "dry-run mode is on (PIGGY_DRY_RUN)" if i.dry_run else "dry-run mode is off"),
    ]
    if include_amount:
        amount, remaining = i.amount_usd, i.daily_cap_usd - i.spent_today_usd
        results += [
            GateResult(Gate.MIN_AMOUNT, amount >= i.min_trade_usd,
                       f"${amount:.2f} is below the minimum trade of ${i.min_trade_usd:.2f}"
                       if amount < i.min_trade_usd else f"${amount:.2f} ≥ minimum ${i.min_trade_usd:.2f}"),
            GateResult(Gate.MAX_AMOUNT, amount <= i.max_trade_usd,
                       f"${amount:.2f} is above the per-trade maximum of ${i.max_trade_usd:.2f}"
                       if amount > i.max_trade_usd else f"${amount:.2f} ≤ maximum ${i.max_trade_usd:.2f}"),
            GateResult(Gate.DAILY_CAP, amount <= remaining,
                       f"daily live cap ${i.daily_cap_usd:.2f} would be exceeded "
                       f"(spent ${i.spent_today_usd:.2f} today, asked ${amount:.2f})"
                       if amount > remaining else f"within the daily cap (${remaining:.2f} left)"),
        ]
    return results


def closed(results: list[GateResult], *, ignore: frozenset[Gate] = frozenset()) -> list[GateResult]:
    return [r for r in results if not r.open and r.gate not in ignore]
