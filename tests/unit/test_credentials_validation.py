"""The credentials service's pure core: exchange answers → decisions with readable reasons."""
from __future__ import annotations

import ccxt
import pytest

from services.credentials.store import parse_vault_ref
from services.credentials.validation import (
    WITHDRAW_WARNING,
    Reason,
    Recheck,
    decide_from_access,
    decide_from_error,
    recheck_action,
    revoke_reason,
    status_fields,
)
from shared.exchanges.base import KeyAccess

pytestmark = pytest.mark.unit

BAD_SIG = 'binanceus {"code":-1022,"msg":"Signature for this request is not valid."}'
UNKNOWN = 'binanceus {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'


def test_account_that_can_trade_is_accepted_without_warning() -> None:
    d = decide_from_access(KeyAccess(can_trade=True, can_withdraw=False))
    assert d.accepted and d.can_trade and not d.can_withdraw
    assert d.reason_code is Reason.OK and d.warning == ""


def test_key_with_withdrawal_permission_is_accepted_with_a_loud_warning() -> None:
    d = decide_from_access(KeyAccess(can_trade=True, can_withdraw=True))
    assert d.accepted and d.can_withdraw
    assert d.warning == WITHDRAW_WARNING and "WITHDRAW" in d.warning


def test_key_without_trading_permission_is_rejected_with_its_own_reason() -> None:
    d = decide_from_access(KeyAccess(can_trade=False))
    assert not d.accepted and not d.transient
    assert d.reason_code is Reason.NO_TRADING
    assert "no trading permission" in d.reason


def test_exchange_that_does_not_report_permissions_is_accepted_with_a_note() -> None:
    d = decide_from_access(KeyAccess(can_trade=None))
    assert d.accepted and "only authentication was verified" in d.warning


def test_bad_signature_means_wrong_secret() -> None:
    d = decide_from_error(ccxt.AuthenticationError(BAD_SIG))
    assert d.reason_code is Reason.WRONG_SECRET and d.exchange_code == "-1022"
    assert d.reason.startswith("wrong secret (signature rejected)")


@pytest.mark.parametrize("code", [-2015, -2014, -1002])
def test_key_the_exchange_does_not_know_is_an_unknown_key(code: int) -> None:
    d = decide_from_error(ccxt.AuthenticationError(f'binanceus {{"code":{code},"msg":"x"}}'))
    assert d.reason_code is Reason.UNKNOWN_KEY and d.reason.startswith("unknown API key")


@pytest.mark.parametrize(("exchange", "body", "reason"), [
    ("kraken", 'kraken {"error":["EAPI:Invalid signature"]}', Reason.WRONG_SECRET),
    ("kraken", 'kraken {"error":["EAPI:Invalid key"]}', Reason.UNKNOWN_KEY),
    ("kraken", 'kraken {"error":["EGeneral:Permission denied"]}', Reason.NO_TRADING),
    ("coinbase", 'coinbase {"errors":[{"id":"authentication_error","message":"invalid signature"}]}',
     Reason.WRONG_SECRET),
    ("coinbase", 'coinbase {"error":"unauthorized","message":"invalid api key"}', Reason.UNKNOWN_KEY),
    ("coinbase", 'coinbase {"error":"PERMISSION_DENIED","message":"Missing required scopes"}',
     Reason.NO_TRADING),
])
def test_other_exchanges_errors_give_the_same_distinct_reasons(exchange: str, body: str,
                                                               reason: Reason) -> None:
    assert decide_from_error(ccxt.ExchangeError(body), exchange).reason_code is reason


def test_auth_error_without_a_code_is_an_unknown_key() -> None:
    assert decide_from_error(ccxt.AuthenticationError("Unauthorized")).reason_code is Reason.UNKNOWN_KEY


@pytest.mark.parametrize("exc", [ccxt.ExchangeNotAvailable("binanceus GET http://127.0.0.1:1"),
                                 ccxt.RequestTimeout("timed out"), ccxt.NetworkError("reset"),
                                 TimeoutError(), ConnectionRefusedError()])
def test_transport_failures_mean_exchange_unreachable_and_are_transient(exc: Exception) -> None:
    d = decide_from_error(exc)
    assert d.reason_code is Reason.UNREACHABLE and d.transient
    assert d.reason.startswith("exchange unreachable")


def test_the_four_headline_reasons_are_distinct() -> None:
    reasons = [decide_from_error(ccxt.AuthenticationError(BAD_SIG)),
               decide_from_error(ccxt.AuthenticationError(UNKNOWN)),
               decide_from_access(KeyAccess(can_trade=False)),
               decide_from_error(ccxt.ExchangeNotAvailable("down"))]
    assert len({r.reason_code for r in reasons}) == 4
    assert len({r.reason for r in reasons}) == 4


def test_reason_never_quotes_the_exception_message() -> None:
    d = decide_from_error(ccxt.ExchangeNotAvailable("GET http://x/?signature=deadbeef"))
    assert "deadbeef" not in d.reason and "http" not in d.reason


def test_rate_limit_and_clock_skew_are_transient_with_their_own_reasons() -> None:
    assert decide_from_error(ccxt.DDoSProtection("429")).reason_code is Reason.RATE_LIMITED
    assert decide_from_error(ccxt.RateLimitExceeded("x")).transient
    assert decide_from_error(ccxt.InvalidNonce('{"code":-1021}')).reason_code is Reason.CLOCK_SKEW


def test_unexpected_exchange_error_is_transient() -> None:
    d = decide_from_error(ccxt.ExchangeError('{"code":-9999,"msg":"weird"}'))
    assert d.reason_code is Reason.EXCHANGE_ERROR and d.transient and d.exchange_code == "-9999"


def test_status_fields_for_a_validated_key() -> None:
    f = status_fields(decide_from_access(KeyAccess(can_trade=True, can_withdraw=True)), checked_at="T")
    assert f["status"] == "validated" and f["can_trade"] is True and f["can_withdraw"] is True
    assert f["checked_at"] == "T" and f["error"] == "" and f["warning"] == WITHDRAW_WARNING


def test_status_fields_for_a_rejected_key_never_claim_trading() -> None:
    f = status_fields(decide_from_access(KeyAccess(can_trade=False)), checked_at="T")
    assert f["status"] == "rejected" and f["can_trade"] is False and f["validated"] is False
    assert f["reason_code"] == "no_trading_permission"


OK = decide_from_access(KeyAccess(can_trade=True))
VALIDATED = {"status": "validated"}
UNREACHABLE = decide_from_error(ccxt.ExchangeNotAvailable("x"))


@pytest.mark.parametrize(("status", "decision", "action"), [
    (VALIDATED, OK, Recheck.REFRESH),
    (VALIDATED, decide_from_error(ccxt.AuthenticationError(UNKNOWN)), Recheck.REVOKE),
    (VALIDATED, decide_from_access(KeyAccess(can_trade=False)), Recheck.REVOKE),
    (VALIDATED, UNREACHABLE, Recheck.NOTE),
    ({"status": "rejected", "reason_code": "exchange_unreachable"}, OK, Recheck.VALIDATE),
    ({"status": "rejected", "reason_code": "exchange_unreachable"},
     decide_from_error(ccxt.AuthenticationError(BAD_SIG)), Recheck.REJECT),
    ({"status": "rejected", "reason_code": "wrong_secret"}, OK, Recheck.SKIP),
    ({"status": "revoked"}, OK, Recheck.SKIP),
    ({"status": "pending"}, OK, Recheck.SKIP),
    ({}, OK, Recheck.SKIP),
])
def test_recheck_table(status: dict[str, str], decision, action: Recheck) -> None:
    assert recheck_action(status, decision) is action


def test_revoke_reasons_say_what_changed_at_the_exchange() -> None:
    assert "trading permission was removed" in revoke_reason(decide_from_access(KeyAccess(can_trade=False)))
    assert "revoked at the exchange" in revoke_reason(decide_from_error(ccxt.AuthenticationError(UNKNOWN)))


def test_vault_ref_parsing() -> None:
    assert parse_vault_ref("piggy:vault:alice:binanceus") == ("alice", "binanceus")
    assert parse_vault_ref("piggy:vault:nouser") is None
    assert parse_vault_ref("piggy:credstatus:alice:binanceus") is None
