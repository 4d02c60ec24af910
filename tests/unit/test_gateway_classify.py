"""ccxt exceptions (as ccxt 4.5.90 raises them for Binance answers) → reject categories."""
from __future__ import annotations

import ccxt
import pytest

from shared.events import RejectCategory as C
from shared.exchange_errors import classify, is_ambiguous, is_transient, safe_message

pytestmark = pytest.mark.unit

BODY = 'binanceus {{"code":{code},"msg":"{msg}"}}'


def err(cls: type[Exception], code: int, msg: str) -> Exception:
    return cls(BODY.format(code=code, msg=msg))


@pytest.mark.parametrize(("exc", "category", "code"), [
    (err(ccxt.AuthenticationError, -2015, "Invalid API-key, IP, or permissions for action."),
     C.AUTH, "-2015"),
    (err(ccxt.PermissionDenied, -2015, "no operation privilege"), C.AUTH, "-2015"),
    (ccxt.InsufficientFunds("binanceus Account has insufficient balance for requested action."),
     C.INSUFFICIENT_FUNDS, ""),
    (err(ccxt.InvalidOrder, -1013, "Filter failure: LOT_SIZE"), C.INVALID_ORDER, "-1013"),
    (err(ccxt.BadRequest, -1013, "Filter failure: NOTIONAL"), C.INVALID_ORDER, "-1013"),
    (err(ccxt.BadSymbol, -1121, "Invalid symbol."), C.INVALID_ORDER, "-1121"),
    (err(ccxt.MarketClosed, -2010, "Market is closed."), C.INVALID_ORDER, "-2010"),
    (err(ccxt.DDoSProtection, -1003, "Too many requests"), C.RATE_LIMITED, "-1003"),
    (err(ccxt.RateLimitExceeded, -1015, "Too many new orders"), C.RATE_LIMITED, "-1015"),
    (err(ccxt.OperationFailed, -1001, "Internal error"), C.UNAVAILABLE, "-1001"),
    (ccxt.ExchangeNotAvailable("binanceus POST http://x/api/v3/order 503 Service Unavailable"),
     C.UNAVAILABLE, ""),
    (ccxt.RequestTimeout("binanceus POST http://x/api/v3/order request timeout"),
     C.UNAVAILABLE, ""),
    (err(ccxt.ExchangeError, -9999, "weird"), C.UNKNOWN, "-9999"),
])
def test_category_and_code(exc: Exception, category: C, code: str) -> None:
    got = classify(exc)
    assert (got.category, got.code) == (category, code)


def test_message_is_the_exchange_msg() -> None:
    got = classify(err(ccxt.InvalidOrder, -1013, "Filter failure: LOT_SIZE"))
    assert got.message == "Filter failure: LOT_SIZE"


@pytest.mark.parametrize(("exc", "ambiguous"), [
    (ccxt.RequestTimeout("timeout"), True),
    (ccxt.ExchangeNotAvailable("connection closed"), True),
    (err(ccxt.OperationFailed, -1006, "Execution status unknown."), True),
    (err(ccxt.InvalidOrder, -2010, "Duplicate order sent."), True),
    (RuntimeError("aiohttp blew up"), True),
    (err(ccxt.InvalidOrder, -2010, "New order rejected."), False),
    (err(ccxt.DDoSProtection, -1003, "Too many requests"), False),
    (err(ccxt.RateLimitExceeded, -1003, "Too many requests."), False),
    (err(ccxt.InvalidNonce, -1021, "Timestamp outside of the recvWindow."), False),
    (ccxt.InsufficientFunds("binanceus Account has insufficient balance"), False),
    (err(ccxt.AuthenticationError, -2014, "API-key format invalid."), False),
])
def test_ambiguous_outcomes_are_looked_up_not_resent(exc: Exception, ambiguous: bool) -> None:
    assert is_ambiguous(exc) is ambiguous


def test_transient_errors_are_the_retryable_reads() -> None:
    assert is_transient(ccxt.RequestTimeout("t"))
    assert is_transient(ccxt.DDoSProtection("429"))
    assert not is_transient(ccxt.OrderNotFound("-2013"))
    assert not is_transient(ccxt.AuthenticationError("-2015"))


def test_messages_lose_signatures_query_strings_and_given_secrets() -> None:
    text = ("binanceus GET http://127.0.0.1:1/api/v3/order?timestamp=1&origClientOrderId=c"
            "&signature=ab12cd failed with key SECRETKEY123")
    clean = safe_message(text, ("SECRETKEY123",))
    assert "signature" not in clean and "ab12cd" not in clean
    assert "SECRETKEY123" not in clean and "timestamp" not in clean
    assert "http://127.0.0.1:1/api/v3/order" in clean
