"""Order validation against the fixture's filters: codes, messages and fill quantities."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.errors import BinanceError
from sandbox.market import load_fixture
from sandbox.rules import parse_order

pytestmark = pytest.mark.unit

FIXTURE = load_fixture()
MARKETS = FIXTURE.markets
PRICES = {"BTCUSDT": Decimal(50000), "ETHUSDT": Decimal(3000), "BTCUSD": Decimal(50000),
          "SOLUSDT": Decimal(150)}


def order(**params: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", **params}


def rejected(params: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(BinanceError) as exc:
        parse_order(params, MARKETS, PRICES)
    return exc.value.code, exc.value.msg


def test_fixture_has_the_required_markets_and_usdt_min_notional_of_one() -> None:
    assert {"BTCUSDT", "ETHUSDT", "BTCUSD"} <= set(MARKETS)
    assert MARKETS["BTCUSDT"].min_notional == Decimal("1.00")
    assert all(m.info["quoteOrderQtyMarketAllowed"] for m in MARKETS.values())


def test_quote_market_buy_of_two_dollars_buys_step_rounded_quantity() -> None:
    req = parse_order(order(quoteOrderQty="2"), MARKETS, PRICES)
    assert (req.qty, req.quote_qty) == (Decimal("0.00004"), Decimal(2))


@pytest.mark.parametrize(("params", "code", "msg"), [
    (order(quoteOrderQty="0.5"), -1013, "Filter failure: NOTIONAL"),
    (order(quantity="0.00001"), -1013, "Filter failure: NOTIONAL"),
    (order(quantity="0.000015"), -1013, "Filter failure: LOT_SIZE"),
    (order(quantity="101"), -1013, "Filter failure: MARKET_LOT_SIZE"),
    (order(type="LIMIT", quantity="9001", price="1", timeInForce="GTC"), -1013,
     "Filter failure: LOT_SIZE"),
    (order(quantity="0.000000001"), -1111, "Precision is over the maximum defined for this asset."),
    (order(quantity="1e-3"), -1100, "Illegal characters found in parameter 'quantity'."),
    (order(quantity="1", quoteOrderQty="2"), -1106,
     "Parameter 'quoteOrderQty' sent when not required."),
    (order(), -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"),
    (order(symbol="NOPE", quantity="1"), -1121, "Invalid symbol."),
    (order(side="HOLD", quantity="1"), -1117, "Invalid side."),
    (order(type="STOP_LOSS", quantity="1"), -1116, "Invalid orderType."),
    (order(quantity="1", newClientOrderId="no spaces"), -1100,
     "Illegal characters found in parameter 'newClientOrderId'."),
    (order(type="LIMIT", quantity="0.001", price="40000"), -1102,
     "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."),
    (order(type="LIMIT", quantity="0.001", price="40000.001", timeInForce="GTC"), -1013,
     "Filter failure: PRICE_FILTER"),
    (order(type="LIMIT", quantity="0.00001", price="40000", timeInForce="GTC"), -1013,
     "Filter failure: NOTIONAL"),
    (order(type="LIMIT_MAKER", quantity="0.001", price="40000", timeInForce="GTC"), -1106,
     "Parameter 'timeInForce' sent when not required."),
])
def test_invalid_orders_get_binance_codes(params: dict[str, str], code: int, msg: str) -> None:
    assert rejected(params) == (code, msg)


def test_limit_order_keeps_price_quantity_and_time_in_force() -> None:
    req = parse_order(order(type="LIMIT", quantity="0.001", price="40000", timeInForce="IOC",
                            newClientOrderId="a.b:c/d_e-f"), MARKETS, PRICES)
    assert (req.price, req.qty, req.time_in_force) == (Decimal(40000), Decimal("0.001"), "IOC")
    assert req.client_order_id == "a.b:c/d_e-f"


@given(cents=st.integers(min_value=100, max_value=10_000_000),
       price_cents=st.integers(min_value=100_000, max_value=10_000_000))
def test_quote_orders_never_exceed_the_quote_and_respect_the_step(
        cents: int, price_cents: int) -> None:
    quote, price = Decimal(cents) / 100, Decimal(price_cents) / 100
    spec = MARKETS["BTCUSDT"]
    try:
        req = parse_order(order(quoteOrderQty=f"{quote:f}"), MARKETS, {"BTCUSDT": price})
    except BinanceError as exc:  # too small to buy one step, or what it buys is below NOTIONAL
        bought = spec.floor_qty(quote / price)
        assert (exc.msg == "Filter failure: LOT_SIZE" and bought < spec.min_qty) or (
            exc.msg == "Filter failure: NOTIONAL" and bought * price < spec.min_notional)
        return
    assert req.qty * price <= quote
    assert req.qty % spec.step == 0
    assert (req.qty + spec.step) * price > quote
