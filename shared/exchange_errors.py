"""ccxt exceptions → what they mean for an order: a reject category, the exchange's code and
message, and whether the order's fate is unknown (then it must be looked up, never re-sent).

Pure: no I/O. Lives in ``shared`` so the gateway and the executor's direct path classify the
same way. The order of the checks follows ccxt 4.5.90's hierarchy (docs/exchange-wire-binanceus.md §6):
``RateLimitExceeded`` and ``DDoSProtection`` are siblings under ``NetworkError``, and
``OperationFailed`` (-1000/-1001/-1006) is neither an ``ExchangeError`` nor a ``NetworkError``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

import ccxt

from shared.events import RejectCategory

DUPLICATE_ORDER = "Duplicate order sent"
_JSON = re.compile(r"\{.*\}", re.DOTALL)
_SIGNATURE = re.compile(r"signature=[0-9a-fA-F]+")
_QUERY = re.compile(r"(https?://[^\s?]+)\?\S*")


@dataclass(frozen=True)
class Classified:
    category: RejectCategory
    code: str
    message: str


def classify(exc: BaseException, redact: tuple[str, ...] = ()) -> Classified:
    """The reject category of a ccxt (or transport) exception, with code and clean message."""
    code, msg = exchange_code(exc)
    message = safe_message(msg or f"{type(exc).__name__}: {exc}", redact)
    return Classified(_category(exc), code, message)


def _category(exc: BaseException) -> RejectCategory:
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return RejectCategory.RATE_LIMITED
    if isinstance(exc, ccxt.AuthenticationError):
        return RejectCategory.AUTH
    if isinstance(exc, ccxt.InsufficientFunds):
        return RejectCategory.INSUFFICIENT_FUNDS
    if isinstance(exc, (ccxt.InvalidOrder, ccxt.BadRequest, ccxt.OperationRejected)):
        return RejectCategory.INVALID_ORDER
    if isinstance(exc, (ccxt.OperationFailed, ccxt.ExchangeNotAvailable, OSError, TimeoutError)):
        return RejectCategory.UNAVAILABLE
    return RejectCategory.UNKNOWN


def is_ambiguous(exc: BaseException) -> bool:
    """True when an order may or may not exist at the exchange after ``exc``.

    A timeout, a dropped connection, a 5xx or an "execution status unknown" answer can come
    after the exchange accepted the order; a duplicate-id refusal means it already has one.
    Rate limits and clock errors are refused before the order is considered.
    """
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded, ccxt.InvalidNonce)):
        return False
    if isinstance(exc, ccxt.InvalidOrder) and DUPLICATE_ORDER.lower() in str(exc).lower():
        return True
    if isinstance(exc, ccxt.ExchangeError):
        return False
    return isinstance(exc, (ccxt.OperationFailed, OSError, TimeoutError)) or not isinstance(
        exc, ccxt.BaseError)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying for a read (balance, tickers, markets, order lookup)."""
    return isinstance(exc, (ccxt.OperationFailed, OSError, TimeoutError))


def exchange_code(exc: BaseException) -> tuple[str, str]:
    """(code, msg) from the exchange's JSON body inside a ccxt message, or ("", "")."""
    match = _JSON.search(str(exc))
    if not match:
        return "", ""
    try:
        body = json.loads(match.group(0))
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    code = body.get("code")
    return ("" if code is None else str(code)), str(body.get("msg") or "")


def safe_message(text: str, redact: tuple[str, ...] = ()) -> str:
    """A message fit for an event or a response: no signatures, query strings or secrets."""
    text = _SIGNATURE.sub("signature=***", text)
    text = _QUERY.sub(r"\1", text)
    for secret in redact:
        if secret:
            text = text.replace(secret, "***")
    return text[:500]
