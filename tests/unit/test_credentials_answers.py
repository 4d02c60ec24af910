"""The HTTP status of a key submission, for every outcome the credentials service can write,
judged the way the original client judged it (success iff HTTP 200, or ok/canTrade/validated
true, or status ok|success)."""
from __future__ import annotations

from typing import Any

import pytest

from services.credentials.validation import Reason
from services.gateway.routes_credentials import REFUSED, _view, submit_status

pytestmark = pytest.mark.unit


def original_client_success(status: int, body: dict[str, Any]) -> bool:
    return (status == 200 or body.get("ok") is True or body.get("canTrade") is True
            or body.get("validated") is True
            or str(body.get("status", "")).lower() in ("ok", "success"))


def _answer(fields: dict[str, str]) -> tuple[int, dict[str, Any]]:
    view = _view("alice", "binanceus", fields)
    return submit_status(view), view


def test_a_validated_key_is_200_and_a_success() -> None:
    status, body = _answer({"status": "validated", "validated": "1", "can_trade": "1",
                            "reason_code": "ok"})
    assert status == 200 and original_client_success(status, body)


@pytest.mark.parametrize("reason", [r for r in Reason if r is not Reason.OK])
def test_every_refusal_is_an_error_status_and_a_failure(reason: Reason) -> None:
    status, body = _answer({"status": "rejected", "validated": "0", "can_trade": "0",
                            "reason_code": reason.value, "error": "why"})
    assert status == (422 if reason.value in REFUSED else 503)
    assert not original_client_success(status, body)
    assert body["reasonCode"] == reason.value and body["error"] == "why"
    assert set(body) >= {"ok", "validated", "canTrade", "status"}


def test_the_key_refusals_are_the_exchanges_verdicts_on_the_key() -> None:
    assert {Reason(r) for r in REFUSED} == {Reason.WRONG_SECRET, Reason.UNKNOWN_KEY,
                                            Reason.NO_TRADING}


def test_pending_is_202_and_not_yet_a_success() -> None:
    status, body = _answer({"status": "pending"})
    assert status == 202 and not original_client_success(status, body)
