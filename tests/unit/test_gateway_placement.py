"""Pre-trade checks against ccxt market dicts (shaped as ccxt 4.5.90 parses the sandbox's)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.gateway.placement import check_order, money, step

pytestmark = pytest.mark.unit


def market(symbol: str = "BTC/USDT", *, cost_min: float | None = 1.0, amount_min: float = 1e-05,
           lot: float = 1e-05, tick: float = 0.01, active: bool = True,
           market_max: float = 100.0) -> dict:
    base, quote = symbol.split("/")
    return {"id": symbol.replace("/", ""), "symbol": symbol, "base": base, "quote": quote,
            "active": active, "precision": {"amount": lot, "price": tick},
            "limits": {"amount": {"min": amount_min, "max": 9000.0},
                       "price": {"min": 0.01, "max": 1e6},
                       "cost": {"min": cost_min, "max": None},
                       "market": {"min": 0.0, "max": market_max}}}


def test_two_dollars_on_btc_usdt_passes() -> None:
    d = check_order(market(), "buy", Decimal(2), Decimal(50000))
    assert d.ok and d.reasons == ()
    assert d.quantity == Decimal("0.00004")


def test_under_min_notional_names_the_exchange_minimum_and_the_ask() -> None:
    d = check_order(market("BTC/USD", cost_min=10.0), "buy", Decimal(2), Decimal(50000))
    assert not d.ok
    assert d.reasons == ("minimum order on BTC/USD is $10.00; asked $2.00",)


def test_fifty_cents_is_under_the_one_dollar_minimum() -> None:
    d = check_order(market(), "buy", Decimal("0.50"), Decimal(50000))
    assert d.reasons[0] == "minimum order on BTC/USDT is $1.00; asked $0.50"


def test_amount_finer_than_the_tick_is_refused() -> None:
    d = check_order(market(), "buy", Decimal("2.567"), Decimal(50000))
    assert not d.ok
    assert "steps of $0.01; asked $2.567" in d.reasons[0]


def test_amount_buying_less_than_one_lot_is_refused() -> None:
    d = check_order(market(cost_min=None), "buy", Decimal("0.40"), Decimal(50000))
    assert not d.ok
    assert d.reasons == ("$0.40 buys less than one lot (0.00001 BTC) of BTC/USDT at $50,000.00",)


def test_quantity_under_min_amount_quotes_both_numbers() -> None:
    d = check_order(market(cost_min=None, amount_min=0.001, lot=1e-05), "buy", Decimal(2),
                    Decimal(50000))
    assert not d.ok
    assert d.reasons[0].startswith("minimum quantity on BTC/USDT is 0.001 BTC (about $50.00")
    assert "asked 0.00004 BTC ($2.00)" in d.reasons[0]


def test_quantity_over_the_market_order_maximum_is_refused() -> None:
    d = check_order(market(market_max=0.001), "buy", Decimal(100), Decimal(50000))
    assert "maximum market-order quantity on BTC/USDT is 0.001 BTC; asked 0.002 BTC" in d.reasons


def test_inactive_market_is_refused() -> None:
    d = check_order(market(active=False), "buy", Decimal(2), Decimal(50000))
    assert d.reasons == ("BTC/USDT is not trading on the exchange right now",)


def test_without_a_price_only_quote_side_checks_run() -> None:
    d = check_order(market(), "buy", Decimal(2), None)
    assert d.ok and d.quantity is None and d.notes


def test_every_failing_check_is_reported() -> None:
    d = check_order(market("BTC/USD", cost_min=10.0, active=False), "buy", Decimal("2.001"),
                    Decimal(50000))
    assert len(d.reasons) == 3


def test_non_positive_amount_is_refused() -> None:
    assert not check_order(market(), "buy", Decimal(0), Decimal(50000)).ok


def test_decimal_places_precision_mode_gives_the_step() -> None:
    assert step(2, 2) == Decimal("0.01")
    assert step(0.01, 4) == Decimal("0.01")
    assert step(None) is None


def test_money_formats_usd_like_quotes_with_a_dollar_sign() -> None:
    assert money(Decimal(10)) == "$10.00"
    assert money(Decimal(50000), "USDT") == "$50,000.00"
    assert money(Decimal(10), "EUR") == "10.00 EUR"
    assert money(Decimal("0.001")) == "$0.001"
