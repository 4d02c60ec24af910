"""Pre-trade checks against ccxt market dicts (shaped as ccxt 4.5.90 parses the sandbox's)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from shared.placement import check_order, minimum_amount, money, plan_order, step

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
    assert d.quantity == Decimal("0.00004") and d.kind == "cost"


def test_under_min_notional_names_the_exchange_minimum_and_the_ask() -> None:
    d = check_order(market("BTC/USD", cost_min=10.0), "buy", Decimal(2), Decimal(50000))
    assert not d.ok
    assert d.reasons == ("minimum order on BTC/USD is $10.00; $2.00 is below it",)


def test_fifty_cents_is_under_the_one_dollar_minimum() -> None:
    d = check_order(market(), "buy", Decimal("0.50"), Decimal(50000))
    assert d.reasons[0] == "minimum order on BTC/USDT is $1.00; $0.50 is below it"


def test_amount_finer_than_the_tick_is_refused() -> None:
    d = check_order(market(), "buy", Decimal("2.567"), Decimal(50000))
    assert not d.ok
    assert "steps of $0.01; asked $2.567" in d.reasons[0]


def test_amount_buying_less_than_one_lot_is_refused() -> None:
    d = check_order(market(cost_min=None), "buy", Decimal("0.40"), Decimal(50000))
    assert not d.ok
    assert d.reasons == (("minimum order on BTC/USDT is 0.00001 BTC ≈ $0.50 at the current price; "
                          "$0.40 is below it"),)


def test_quantity_under_min_amount_quotes_both_numbers() -> None:
    d = check_order(market(cost_min=None, amount_min=0.001, lot=1e-05), "buy", Decimal(2),
                    Decimal(50000))
    assert not d.ok
    assert d.reasons == (("minimum order on BTC/USDT is 0.001 BTC ≈ $50.00 at the current price; "
                          "$2.00 is below it"),)


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


# ---- after the exchange's rounding (markets as ccxt 4.5.90 parses each exchange's data) -----
# From ccxt's static markets fixtures (docs/exchanges.md §Minimums): binance.com BTCUSDT min
# notional 5 and step 0.00001; kraken XXBTZUSD ordermin 0.0001, lot 1e-8, price tick 0.1;
# coinbase BTC-USD quote_min_size 1, base_increment 1e-8.
BINANCE = {"symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "active": True,
           "precision": {"amount": 1e-05, "price": 0.01},
           "limits": {"amount": {"min": 1e-05, "max": 9000}, "cost": {"min": 5, "max": 9000000},
                      "market": {"min": 0, "max": 128.52621715}}}
BINANCE_US = {**BINANCE, "limits": {**BINANCE["limits"], "cost": {"min": 1.0, "max": None}}}
KRAKEN = {"symbol": "BTC/USD", "base": "BTC", "quote": "USD", "active": True,
          "precision": {"amount": 1e-08, "price": 0.1},
          "limits": {"amount": {"min": 0.0001}, "price": {"min": 0.1}, "cost": {"min": 0.5}}}
COINBASE = {"symbol": "BTC/USD", "base": "BTC", "quote": "USD", "active": True,
            "precision": {"amount": 1e-08, "price": 0.01},
            "limits": {"amount": {"min": 1e-08, "max": 3400}, "cost": {"min": 1, "max": 150000000}}}
PRICE = Decimal(50026)
BOUNDS = {"min_usd": Decimal(2), "max_usd": Decimal(100)}


def test_two_dollars_that_would_buy_one_fifty_is_rounded_up_to_the_next_step() -> None:
    d = plan_order(BINANCE_US, "buy", Decimal(2), PRICE, exchange="binanceus", **BOUNDS)
    assert d.ok and d.kind == "quantity"
    assert d.quantity == Decimal("0.00004") and d.expected_cost == Decimal("2.00104")
    assert "$2.00 buys 0.00003 BTC ≈ $1.50 after binanceus's 0.00001 BTC step" in d.notes[0]


def test_a_larger_amount_stays_a_quote_order_and_its_cost_is_said() -> None:
    d = plan_order(BINANCE_US, "buy", Decimal(10), PRICE, exchange="binanceus", **BOUNDS)
    assert d.ok and d.kind == "cost" and d.expected_cost == Decimal("0.00019") * PRICE


def test_round_up_beyond_the_max_trade_is_refused_with_the_numbers() -> None:
    d = plan_order(BINANCE_US, "buy", Decimal(2), PRICE, exchange="binanceus",
                   min_usd=Decimal(2), max_usd=Decimal("2.00"))
    assert not d.ok
    assert d.reasons[0].endswith("the next step, 0.00004 BTC ≈ $2.00, is above the max trade $2.00")


def test_round_up_beyond_the_funds_is_refused_with_the_numbers() -> None:
    d = plan_order(BINANCE_US, "buy", Decimal(2), PRICE, exchange="binanceus", funds=Decimal("1.9"),
                   **BOUNDS)
    assert not d.ok and "is more than the $1.90 available" in d.reasons[0]


def test_kraken_two_dollars_is_below_ordermin_and_says_so() -> None:
    d = plan_order(KRAKEN, "buy", Decimal(2), Decimal(50000), exchange="kraken", **BOUNDS)
    assert d.reasons == (("kraken's minimum for BTC/USD is 0.0001 BTC ≈ $5.00 at the current "
                          "price; $2.00 is below it"),)


def test_binance_com_two_dollars_is_below_min_notional() -> None:
    d = plan_order(BINANCE, "buy", Decimal(2), PRICE, exchange="binance", **BOUNDS)
    assert d.reasons == ("binance's minimum for BTC/USDT is $5.00; $2.00 is below it",)


def test_coinbase_two_dollars_is_a_plain_quote_order() -> None:
    d = plan_order(COINBASE, "buy", Decimal(2), PRICE, exchange="coinbase", **BOUNDS)
    assert d.ok and d.kind == "cost" and abs(d.expected_cost - Decimal(2)) < Decimal("0.001")


@pytest.mark.parametrize(("mkt", "name", "offered"), [
    (KRAKEN, "kraken", Decimal("5.10")), (BINANCE, "binance", Decimal("5.51")),
    (COINBASE, "coinbase", Decimal("2.01")), (BINANCE_US, "binanceus", Decimal("2.51"))])
def test_the_smallest_accepted_amount_is_accepted(mkt: dict, name: str, offered: Decimal) -> None:
    amount, why = minimum_amount(mkt, PRICE, min_usd=Decimal(2), exchange=name)
    assert amount == offered and why.startswith(f"{name}'s minimum for")
    d = plan_order(mkt, "buy", amount, PRICE, exchange=name, **BOUNDS)
    assert d.ok and d.kind == "cost" and d.cost == amount  # sent as offered, never rounded up
    assert Decimal(2) <= d.expected_cost <= amount
    assert d.quantity >= Decimal(str(mkt["limits"]["amount"]["min"]))


def test_kraken_five_dollars_at_fifty_thousand_is_not_offered_and_not_sent_as_is() -> None:
    """The fee comes out of a kraken quote-sized buy: $5.00 buys 0.0000997 BTC < ordermin."""
    fee_market = {**KRAKEN, "taker": 0.0026}
    amount, why = minimum_amount(fee_market, Decimal(50000), exchange="kraken")
    assert amount == Decimal("5.10") and "0.26 % fee taken out of the amount" in why
    d = plan_order(fee_market, "buy", Decimal("5.00"), Decimal(50000), exchange="kraken")
    assert d.ok and d.kind == "quantity" and d.quantity == Decimal("0.0001")
    assert "after its 0.26 % fee taken out" in d.notes[0]


def test_binance_offer_at_49933_spends_what_it_says() -> None:
    """The issue's case: "$5.00" offered, $5.49 spent. Now the offer is what is spent at most."""
    amount, _ = minimum_amount(BINANCE, Decimal(49933), exchange="binance")
    d = plan_order(BINANCE, "buy", amount, Decimal(49933), exchange="binance")
    assert d.ok and d.kind == "cost" and d.expected_cost <= amount
