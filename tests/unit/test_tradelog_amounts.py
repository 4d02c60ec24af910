"""The trade-log line's amounts phrase: asked, filled, cost actually spent, fee."""
from __future__ import annotations

from decimal import Decimal

import pytest

from shared.events import Mode, TradeLogged
from shared.tradelog import amounts

pytestmark = pytest.mark.unit


def line(**kw: object) -> TradeLogged:
    base = {"intent_id": "i", "user_id": "u", "symbol": "BTC/USDT", "side": "buy",
            "amount_usd": Decimal(2), "mode": Mode.LIVE, "status": "filled"}
    return TradeLogged(**(base | kw))  # type: ignore[arg-type]


def test_a_buy_rounded_up_says_it_spent_more_than_asked() -> None:
    got = amounts(line(filled=Decimal("0.00004"), cost=Decimal("2.00104000"),
                       fee=Decimal("0.00000004"), fee_currency="BTC"))
    assert got == "asked $2.00, filled 0.00004 BTC for $2.00104, fee 0.00000004 BTC"


def test_a_quote_order_the_exchange_rounded_down_says_what_it_spent() -> None:
    got = amounts(line(amount_usd=Decimal(10), filled=Decimal("0.00019"), cost=Decimal("9.50")))
    assert got == "asked $10.00, filled 0.00019 BTC for $9.50"


def test_a_fee_taken_in_the_quote_currency_is_named() -> None:
    got = amounts(line(symbol="BTC/USD", filled=Decimal("0.00003976"), cost=Decimal("1.988"),
                       fee=Decimal("0.012"), fee_currency="USD"))
    assert got == "asked $2.00, filled 0.00003976 BTC for $1.988, fee 0.012 USD"


def test_a_rejected_line_only_says_what_was_asked() -> None:
    assert amounts(line(mode=Mode.NONE, status="rejected")) == "asked $2.00"
