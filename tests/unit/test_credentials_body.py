"""Parsing of ``POST /api/credentials`` bodies: camelCase, field named on errors, no echo."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.gateway.routes_credentials import CredentialsIn, _field_errors

pytestmark = pytest.mark.unit

SECRET = "s3cr3t-value-never-echoed"


def _errors(body: dict) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        CredentialsIn.model_validate(body)
    return _field_errors(info.value)


def test_camel_case_body_parses_and_hides_the_secret() -> None:
    body = CredentialsIn.model_validate(
        {"userId": "alice", "exchange": "binanceus", "apiKey": "KEY12345", "apiSecret": SECRET})
    assert (body.user_id, body.exchange, body.api_key) == ("alice", "binanceus", "KEY12345")
    assert SECRET not in repr(body) and body.api_secret.get_secret_value() == SECRET


def test_user_id_is_optional() -> None:
    body = CredentialsIn.model_validate({"exchange": "kraken", "apiKey": "KEY1", "apiSecret": SECRET})
    assert body.user_id is None


@pytest.mark.parametrize(("body", "field"), [
    ({"exchange": "binanceus", "apiKey": "KEY12345"}, "apiSecret"),
    ({"exchange": "binanceus", "apiSecret": SECRET}, "apiKey"),
    ({"exchange": "ftx", "apiKey": "KEY12345", "apiSecret": SECRET}, "exchange"),
    ({"userId": "a b:c", "exchange": "binanceus", "apiKey": "KEY12345", "apiSecret": SECRET},
     "userId"),
    ({"exchange": "binanceus", "apiKey": "KEY12345", "apiSecret": 12345}, "apiSecret"),
])
def test_malformed_body_names_the_field(body: dict, field: str) -> None:
    errors = _errors(body)
    assert [e["field"] for e in errors] == [field]


def test_errors_never_echo_the_input() -> None:
    errors = _errors({"exchange": "binanceus", "apiKey": SECRET + " with space", "apiSecret": "x"})
    assert SECRET not in repr(errors)
    assert {e["field"] for e in errors} == {"apiKey", "apiSecret"}
