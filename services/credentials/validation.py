"""Pure core: what an exchange's answer means for a key, in words a person understands.

Input is what the exchange said through its adapter (``shared.exchanges``: the key's access,
or the exception ccxt raised, read the exchange's way); output is a ``Decision`` with a stable
``reason_code`` and a readable ``reason``. Re-validation is a small
table from (current status, new decision) to an action. No I/O, no clock, no ccxt calls:
the exception classes are only compared, never raised or caught here.

Reason texts are fixed strings plus exchange error codes. They never quote an exception's
message, so nothing a transport put into a message (URLs, headers) can reach a status or event.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import ccxt

from shared.exchanges import DEFAULT_EXCHANGE, adapter
from shared.exchanges.base import KeyAccess, KeyProblem


class Reason(StrEnum):
    OK = "ok"
    WRONG_SECRET = "wrong_secret"
    UNKNOWN_KEY = "unknown_key"
    NO_TRADING = "no_trading_permission"
    UNREACHABLE = "exchange_unreachable"
    CLOCK_SKEW = "clock_skew"
    RATE_LIMITED = "rate_limited"
    EXCHANGE_ERROR = "exchange_error"
    VAULT_UNREADABLE = "vault_unreadable"


REASONS: dict[Reason, str] = {
    Reason.OK: "",
    Reason.WRONG_SECRET: "wrong secret (signature rejected): the exchange knows this API key "
                         "but the secret does not match it",
    Reason.UNKNOWN_KEY: "unknown API key: the exchange does not recognise it (mistyped, deleted "
                        "or revoked at the exchange, or this IP is not allowed)",
    Reason.NO_TRADING: "key has no trading permission: enable spot trading (and balance "
                       "reading) for this key at the exchange and submit it again",
    Reason.UNREACHABLE: "exchange unreachable: could not get an answer from the exchange; "
                        "the key is kept and checked again later",
    Reason.CLOCK_SKEW: "exchange refused the request time (clock out of sync); the key is kept "
                       "and checked again later",
    Reason.RATE_LIMITED: "exchange rate limit hit; the key is kept and checked again later",
    Reason.EXCHANGE_ERROR: "exchange returned an unexpected error; the key is kept and checked "
                           "again later",
    Reason.VAULT_UNREADABLE: "stored key can't be decrypted with this service's master key",
}

# Outcomes that say nothing about the key itself: never a reason to revoke it.
TRANSIENT = frozenset({Reason.UNREACHABLE, Reason.CLOCK_SKEW, Reason.RATE_LIMITED,
                       Reason.EXCHANGE_ERROR})

WITHDRAW_WARNING = ("WARNING: this key can WITHDRAW funds. CryptoPiggy never withdraws; create a "
                    "key with withdrawals disabled so a leaked key can't empty the account.")
UNREPORTED_TRADE_WARNING = ("the exchange does not report trading permission for keys; only "
                            "authentication was verified")

_PROBLEMS = {KeyProblem.WRONG_SECRET: Reason.WRONG_SECRET,
             KeyProblem.UNKNOWN_KEY: Reason.UNKNOWN_KEY,
             KeyProblem.NO_PERMISSION: Reason.NO_TRADING}


@dataclass(frozen=True)
class Decision:
    accepted: bool
    reason_code: Reason
    reason: str = ""
    can_trade: bool = False
    can_withdraw: bool = False
    warning: str = ""
    exchange_code: str | None = None

    @property
    def transient(self) -> bool:
        return self.reason_code in TRANSIENT


def rejected(reason: Reason, code: str | None = None) -> Decision:
    text = REASONS[reason]
    if code:
        text = f"{text} [exchange code {code}]"
    return Decision(accepted=False, reason_code=reason, reason=text, exchange_code=code)


def decide_from_access(access: KeyAccess) -> Decision:
    """What the exchange says the key may do → accept, or no trading permission."""
    if access.can_trade is False:
        return Decision(accepted=False, reason_code=Reason.NO_TRADING,
                        reason=REASONS[Reason.NO_TRADING], can_trade=False,
                        can_withdraw=access.can_withdraw)
    warnings = []
    if access.can_withdraw:
        warnings.append(WITHDRAW_WARNING)
    if access.can_trade is None:
        warnings.append(UNREPORTED_TRADE_WARNING)
    return Decision(accepted=True, reason_code=Reason.OK, can_trade=True,
                    can_withdraw=access.can_withdraw, warning=" ".join(warnings))


def decide_from_error(exc: BaseException, exchange: str = DEFAULT_EXCHANGE) -> Decision:
    """A ccxt exception (or a transport error ccxt let through), read the way ``exchange``
    writes its errors (its adapter), → a rejection with its reason."""
    why = adapter(exchange).classify(exc)
    code = why.code or None
    if why.key_problem is not None:
        return rejected(_PROBLEMS[why.key_problem], code)
    if isinstance(exc, ccxt.InvalidNonce):
        return rejected(Reason.CLOCK_SKEW, code)
    if isinstance(exc, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return rejected(Reason.RATE_LIMITED, code)
    if isinstance(exc, ccxt.NetworkError | TimeoutError | OSError):
        return rejected(Reason.UNREACHABLE, code)
    return rejected(Reason.EXCHANGE_ERROR, code)


# ---- re-validation --------------------------------------------------------------------------


class Recheck(StrEnum):
    REFRESH = "refresh"      # still good: update checked_at and permissions
    REVOKE = "revoke"        # was validated, the exchange now refuses it
    VALIDATE = "validate"    # was rejected for a transient reason, now good
    REJECT = "reject"        # was rejected for a transient reason, now definitively bad
    NOTE = "note"            # transient failure: keep the status, note the attempt
    SKIP = "skip"


def should_recheck(status: dict[str, str]) -> bool:
    """Validated keys, and keys whose last rejection said nothing about the key itself."""
    state = status.get("status", "")
    if state == "validated":
        return True
    return state == "rejected" and status.get("reason_code", "") in {r.value for r in TRANSIENT}


def recheck_action(status: dict[str, str], decision: Decision) -> Recheck:
    if not should_recheck(status):
        return Recheck.SKIP
    was_validated = status.get("status") == "validated"
    if decision.accepted:
        return Recheck.REFRESH if was_validated else Recheck.VALIDATE
    if decision.transient:
        return Recheck.NOTE
    return Recheck.REVOKE if was_validated else Recheck.REJECT


def revoke_reason(decision: Decision) -> str:
    if decision.reason_code is Reason.NO_TRADING:
        return "trading permission was removed from this key at the exchange"
    if decision.reason_code is Reason.WRONG_SECRET:
        return "the exchange no longer accepts this key's secret (signature rejected)"
    return "key revoked at the exchange: it is no longer recognised (unknown API key)"


def status_fields(decision: Decision, *, checked_at: str) -> dict[str, Any]:
    """The status hash fields (``shared.state.set_credential_status``) for a fresh decision."""
    return {
        "status": "validated" if decision.accepted else "rejected",
        "validated": decision.accepted,
        "can_trade": decision.accepted and decision.can_trade,
        "can_withdraw": decision.can_withdraw,
        "checked_at": checked_at,
        "error": decision.reason,
        "reason_code": decision.reason_code.value,
        "warning": decision.warning,
        "last_check": decision.reason_code.value,
    }


def revoked_fields(reason: str, *, checked_at: str) -> dict[str, Any]:
    return {"status": "revoked", "validated": False, "can_trade": False, "checked_at": checked_at,
            "error": reason, "reason_code": "revoked", "last_check": "revoked"}
