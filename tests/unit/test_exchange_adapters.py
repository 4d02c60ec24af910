"""Each exchange adapter reads its exchange's real error bodies (as ccxt 4.5.90 raises them:
``"<id> <body>"``), makes a valid client order id and configures ccxt — no I/O.

Bodies are the exchanges' own (docs/exchanges.md §Errors lists them with the class ccxt raises).
"""
from __future__ import annotations

import re

import ccxt
import pytest

from shared.events import RejectCategory as C
from shared.exchanges import EXCHANGES, UnsupportedExchange, adapter
from shared.exchanges.base import KeyProblem as K
from shared.exchanges.base import NoTestnet, is_transient, safe_message
from shared.settings import ExchangeSettings

pytestmark = pytest.mark.unit

BIN = 'binanceus {{"code":{code},"msg":"{msg}"}}'


def bn(cls: type[Exception], code: int, msg: str) -> Exception:
    return cls(BIN.format(code=code, msg=msg))


def kr(cls: type[Exception], error: str) -> Exception:
    return cls(f'kraken {{"error":["{error}"]}}')


def cb(cls: type[Exception], body: str) -> Exception:
    return cls(f"coinbase {body}")


CASES = [
    # binance family (binanceus and binance.com share the dialect)
    ("binanceus", bn(ccxt.AuthenticationError, -1022, "Signature for this request is not valid."),
     C.AUTH, K.WRONG_SECRET),
    ("binanceus", bn(ccxt.AuthenticationError, -2015, "Invalid API-key, IP, or permissions for action."),
     C.AUTH, K.UNKNOWN_KEY),
    # ccxt turns -2015 into DDoSProtection once the instance made a successful private call
    ("binance", bn(ccxt.DDoSProtection, -2015, "Invalid API-key, IP, or permissions for action."),
     C.AUTH, K.UNKNOWN_KEY),
    ("binance", bn(ccxt.InsufficientFunds, -2010, "Account has insufficient balance for requested action."),
     C.INSUFFICIENT_FUNDS, None),
    ("binance", bn(ccxt.BadRequest, -1013, "Filter failure: NOTIONAL"), C.INVALID_ORDER, None),
    ("binance", bn(ccxt.BadSymbol, -1121, "Invalid symbol."), C.INVALID_ORDER, None),
    ("binance", bn(ccxt.DDoSProtection, -1003, "Too many requests"), C.RATE_LIMITED, None),
    ("binance", bn(ccxt.OperationFailed, -1001, "Internal error"), C.UNAVAILABLE, None),
    # kraken: HTTP 200 with an error list; "Invalid signature" is a plain ExchangeError in ccxt
    ("kraken", kr(ccxt.ExchangeError, "EAPI:Invalid signature"), C.AUTH, K.WRONG_SECRET),
    ("kraken", kr(ccxt.AuthenticationError, "EAPI:Invalid key"), C.AUTH, K.UNKNOWN_KEY),
    ("kraken", kr(ccxt.PermissionDenied, "EGeneral:Permission denied"), C.AUTH, K.NO_PERMISSION),
    ("kraken", kr(ccxt.InsufficientFunds, "EOrder:Insufficient funds"), C.INSUFFICIENT_FUNDS, None),
    ("kraken", kr(ccxt.InvalidOrder, "EOrder:Order minimum not met"), C.INVALID_ORDER, None),
    ("kraken", kr(ccxt.InvalidOrder, "EGeneral:Invalid arguments:viqc"), C.INVALID_ORDER, None),
    ("kraken", kr(ccxt.BadSymbol, "EQuery:Invalid asset pair"), C.INVALID_ORDER, None),
    ("kraken", kr(ccxt.ExchangeError, "EQuery:Unknown asset pair"), C.INVALID_ORDER, None),
    ("kraken", kr(ccxt.DDoSProtection, "EAPI:Rate limit exceeded"), C.RATE_LIMITED, None),
    ("kraken", kr(ccxt.ExchangeNotAvailable, "EService:Unavailable"), C.UNAVAILABLE, None),
    # coinbase: the body decides (ccxt maps only preview_failure_reason)
    ("coinbase", cb(ccxt.ExchangeError, '{"success":false,"error_response":{"error":"INSUFFICIENT_FUND",'
                    '"message":"Insufficient balance in source account","preview_failure_reason":'
                    '"PREVIEW_INSUFFICIENT_FUND"}}'), C.INSUFFICIENT_FUNDS, None),
    ("coinbase", cb(ccxt.AuthenticationError, '{"error":"unauthorized","message":"invalid api key"}'),
     C.AUTH, K.UNKNOWN_KEY),
    ("coinbase", cb(ccxt.AuthenticationError,
                    '{"errors":[{"id":"authentication_error","message":"invalid signature"}]}'),
     C.AUTH, K.WRONG_SECRET),
    ("coinbase", cb(ccxt.PermissionDenied, '{"error":"PERMISSION_DENIED","message":"Missing required scopes"}'),
     C.AUTH, K.NO_PERMISSION),
    ("coinbase", cb(ccxt.BadRequest, '{"error":"INVALID_ARGUMENT","message":"quote_size too small"}'),
     C.INVALID_ORDER, None),
    ("coinbase", cb(ccxt.RateLimitExceeded, '{"errors":[{"id":"rate_limit_exceeded","message":"Too many requests"}]}'),
     C.RATE_LIMITED, None),
    ("coinbase", cb(ccxt.ExchangeError, '{"error":"NOT_FOUND","message":"product not found"}'),
     C.INVALID_ORDER, None),
    ("coinbase", ccxt.ExchangeNotAvailable("coinbase GET http://127.0.0.1:1/api/v3/brokerage 503"),
     C.UNAVAILABLE, None),
]


@pytest.mark.parametrize(("exchange", "exc", "category", "problem"), CASES)
def test_error_bodies_classify_the_exchange_s_way(exchange: str, exc: Exception, category: C,
                                                  problem: K | None) -> None:
    got = adapter(exchange).classify(exc)
    assert (got.category, got.key_problem) == (category, problem)


def test_each_exchange_tells_wrong_secret_unknown_key_and_no_permission_apart() -> None:
    wrong = {"binance": bn(ccxt.AuthenticationError, -1022, "x"),
             "kraken": kr(ccxt.ExchangeError, "EAPI:Invalid signature"),
             "coinbase": cb(ccxt.AuthenticationError, '{"errors":[{"id":"authentication_error",'
                                                      '"message":"invalid signature"}]}')}
    unknown = {"binance": bn(ccxt.AuthenticationError, -2015, "x"),
               "kraken": kr(ccxt.AuthenticationError, "EAPI:Invalid key"),
               "coinbase": cb(ccxt.AuthenticationError, '{"error":"unauthorized"}')}
    for name, exc in wrong.items():
        ex = adapter(name)
        assert ex.classify(exc).key_problem is K.WRONG_SECRET
        assert ex.classify(unknown[name]).key_problem is K.UNKNOWN_KEY


def test_messages_are_the_exchange_s_words_without_secrets() -> None:
    assert adapter("binance").classify(bn(ccxt.InvalidOrder, -1013, "Filter failure: LOT_SIZE")
                                       ).message == "Filter failure: LOT_SIZE"
    assert adapter("kraken").classify(kr(ccxt.InsufficientFunds, "EOrder:Insufficient funds")
                                      ).code == "EOrder:Insufficient funds"
    text = ("binanceus GET http://127.0.0.1:1/api/v3/order?timestamp=1&origClientOrderId=c"
            "&signature=ab12cd failed with key SECRETKEY123")
    clean = safe_message(text, ("SECRETKEY123",))
    assert "ab12cd" not in clean and "SECRETKEY123" not in clean and "timestamp" not in clean


@pytest.mark.parametrize(("exchange", "exc", "ambiguous"), [
    ("binance", ccxt.RequestTimeout("timeout"), True),
    ("kraken", ccxt.ExchangeNotAvailable("connection closed"), True),
    ("coinbase", RuntimeError("aiohttp blew up"), True),
    ("binance", bn(ccxt.OperationFailed, -1006, "Execution status unknown."), True),
    ("binance", bn(ccxt.InvalidOrder, -2010, "Duplicate order sent."), True),
    ("binance", bn(ccxt.InvalidOrder, -2010, "New order rejected."), False),
    ("kraken", kr(ccxt.InsufficientFunds, "EOrder:Insufficient funds"), False),
    ("kraken", kr(ccxt.DDoSProtection, "EAPI:Rate limit exceeded"), False),
    ("kraken", kr(ccxt.InvalidNonce, "EAPI:Invalid nonce"), False),
    ("coinbase", cb(ccxt.ExchangeError, '{"error":"INVALID_ARGUMENT"}'), False),
])
def test_ambiguous_outcomes_are_looked_up_not_resent(exchange: str, exc: Exception,
                                                     ambiguous: bool) -> None:
    assert adapter(exchange).is_ambiguous(exc) is ambiguous


def test_transient_errors_are_the_retryable_reads() -> None:
    assert is_transient(ccxt.RequestTimeout("t")) and is_transient(ccxt.DDoSProtection("429"))
    assert not is_transient(ccxt.OrderNotFound("-2013"))


BINANCE_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_client_order_ids_are_valid_for_each_exchange_and_deterministic() -> None:
    canonical = "pg-" + "0123456789abcdef" * 2
    assert BINANCE_ID.match(adapter("binanceus").client_order_id(canonical))
    assert BINANCE_ID.match(adapter("binance").client_order_id(canonical))
    kraken = adapter("kraken").client_order_id(canonical)
    assert UUID.match(kraken) and kraken.replace("-", "") == "0123456789abcdef" * 2
    assert adapter("kraken").client_order_id(canonical) == kraken
    assert adapter("kraken").client_order_id("other") != kraken
    assert adapter("coinbase").client_order_id(canonical) == canonical


def test_client_order_id_travels_in_each_exchange_s_own_param() -> None:
    assert adapter("binance").buy_params("c") == {"newClientOrderId": "c"}
    assert adapter("kraken").buy_params("c") == {"clientOrderId": "c"}  # ccxt sends cl_ord_id
    assert adapter("coinbase").buy_params("c") == {"client_order_id": "c"}  # clientOrderId is dropped


def test_registry_lists_four_exchanges_each_with_settings() -> None:
    assert EXCHANGES == ("binanceus", "binance", "kraken", "coinbase")
    settings = ExchangeSettings()
    for name in EXCHANGES:
        assert adapter(name).name == name
        assert f"{name}_url" in type(settings).model_fields
        assert f"{name}_testnet" in type(settings).model_fields
    with pytest.raises(UnsupportedExchange, match="one of binanceus, binance, kraken, coinbase"):
        adapter("ftx")


async def test_loopback_urls_switch_the_rate_limiter_off_real_exchanges_keep_it() -> None:
    local = ExchangeSettings(kraken_url="http://127.0.0.1:9/kraken")
    sandboxed = adapter("kraken").make_client(local)
    real = adapter("kraken").make_client(ExchangeSettings())
    try:
        assert sandboxed.enableRateLimit is False
        assert sandboxed.urls["api"]["private"] == "http://127.0.0.1:9/kraken"
        assert real.enableRateLimit is True and real.rateLimit > 0
    finally:
        await sandboxed.close()
        await real.close()


async def test_binance_com_asks_for_spot_only_and_has_a_testnet() -> None:
    client = adapter("binance").make_client(ExchangeSettings(binance_testnet=True))
    try:
        assert client.options["fetchMarkets"]["types"] == ["spot"]
        assert client.options["fetchCurrencies"] is False and client.options["fetchMargins"] is False
        assert "testnet" in client.urls["api"]["public"]
    finally:
        await client.close()


@pytest.mark.parametrize("name", ["kraken", "coinbase", "binanceus"])
def test_testnet_is_refused_with_a_clear_message_where_there_is_none(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} has no testnet"):
        ExchangeSettings(**{f"{name}_testnet": True})
    with pytest.raises(NoTestnet):
        adapter(name).make_client(ExchangeSettings.model_construct(**{f"{name}_testnet": True}))
