"""The shared input types: what each refuses, with a readable message and no echoed input."""
from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from shared.exchange import SUPPORTED
from shared.types import EXCHANGES, Amount, Exchange, Symbol, UserId, parse

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), "NaN", "Infinity",
                                   "1e400", 1e400, "-1", 0, "0", "1000001", "0.000000001",
                                   "two", "", None, True])
def test_amount_refuses_what_is_not_a_finite_positive_bounded_decimal(value: object) -> None:
    with pytest.raises(ValidationError) as err:
        TypeAdapter(Amount).validate_python(value)
    assert all(e["msg"] for e in err.value.errors())


@pytest.mark.parametrize(("value", "expected"), [("2", Decimal(2)), (2.5, Decimal("2.5")),
                                                 ("1000000", Decimal(1_000_000)),
                                                 ("0.00000001", Decimal("0.00000001"))])
def test_amount_accepts_usd(value: object, expected: Decimal) -> None:
    assert TypeAdapter(Amount).validate_python(value) == expected
    assert TypeAdapter(Amount).dump_python(expected, mode="json") == format(expected, "f")


@pytest.mark.parametrize("value", ["../../etc", "BTC/USDT; DROP", "₿/USDT", "BTC USDT", "",
                                   "BTC//USDT", "/USDT", "A" * 41, "BTC/USDT\x00"])
def test_symbol_refuses_what_no_exchange_lists(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Symbol).validate_python(value)


@pytest.mark.parametrize("value", ["BTC/USDT", "BTCUSDT", "btcusdt", "BTC/USDT:USDT", "BTC-USD",
                                   "XXBTZUSD"])
def test_symbol_accepts_unified_and_native_names(value: str) -> None:
    assert TypeAdapter(Symbol).validate_python(value) == value


@pytest.mark.parametrize("value", ["a/b", "a b", "a\x00b", "", "u" * 65, "ü", "a\nb", "../x"])
def test_user_id_refuses_paths_spaces_and_control_characters(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(UserId).validate_python(value)


def test_exchange_is_one_of_the_supported_and_says_which() -> None:
    assert set(EXCHANGES) == set(SUPPORTED)
    with pytest.raises(ValueError, match="binanceus"):
        parse(Exchange, "mtgox")


def test_parse_gives_a_readable_message_without_the_input() -> None:
    with pytest.raises(ValueError) as err:
        parse(Amount, "NaN-secret")
    assert "NaN-secret" not in str(err.value)
