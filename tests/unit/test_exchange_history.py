"""ccxt's parsed orders, trades and balances as the adapters' exact-decimal records, and the
page bookkeeping that makes a listing either complete or inconclusive — no I/O."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.exchanges.base import OrderLookupInconclusive, VenueFill
from shared.exchanges.history import (
    MAX_PAGES,
    Collected,
    holdings_of,
    matching,
    ms,
    venue_fill,
    venue_order,
    with_fees,
)

pytestmark = pytest.mark.unit

ORDER = {"id": "O1", "clientOrderId": "cp-1", "symbol": "BTC/USD", "side": "buy",
         "status": "closed", "amount": 0.0002, "filled": 0.0001988, "cost": None,
         "average": 50000.0, "fee": {"cost": 0.059628, "currency": None},
         "timestamp": 1796681255345}


def test_an_order_in_exact_decimals_with_cost_from_the_average_and_fee_in_the_quote() -> None:
    order = venue_order(ORDER)
    assert (order.order_id, order.client_order_id, order.status) == ("O1", "cp-1", "closed")
    assert order.filled == Decimal("0.0001988") and order.amount == Decimal("0.0002")
    assert order.cost == Decimal("9.9400000")  # filled × average, exactly
    assert (order.fee, order.fee_currency) == (Decimal("0.059628"), "USD")
    assert order.created_at == datetime(2026, 12, 7, 22, 7, 35, 345000, tzinfo=UTC)


def test_fees_without_a_fee_are_summed_and_no_fee_is_zero() -> None:
    split = {**ORDER, "fee": None, "fees": [{"cost": 0.01, "currency": "BTC"},
                                           {"cost": 0.02, "currency": "BTC"}]}
    assert (venue_order(split).fee, venue_order(split).fee_currency) == (Decimal("0.03"), "BTC")
    bare = venue_order({**ORDER, "fee": None, "clientOrderId": "", "amount": None})
    assert (bare.fee, bare.client_order_id, bare.amount) == (Decimal(0), None, None)


def test_a_trade_costs_price_times_amount_when_ccxt_gives_no_cost() -> None:
    fill = venue_fill({"id": "T1", "order": "O1", "symbol": "BTC/USDT", "side": "sell",
                       "price": 50000.0, "amount": 0.001, "cost": None,
                       "fee": {"cost": 0.05, "currency": "USDT"}, "timestamp": 0})
    assert (fill.cost, fill.fee, fill.fee_currency, fill.order_id) == (
        Decimal("50.0000"), Decimal("0.05"), "USDT", "O1")


def test_an_order_listing_without_fees_takes_its_trades_fees() -> None:
    order = venue_order({**ORDER, "fee": None})
    fills = [VenueFill(f"T{i}", "O1", None, "BTC/USD", "buy", Decimal(50000), Decimal("0.0001"),
                       Decimal(5), Decimal("0.01"), "BNB", datetime.now(UTC)) for i in range(2)]
    assert (with_fees(order, fills).fee, with_fees(order, fills).fee_currency) == (
        Decimal("0.02"), "BNB")
    assert with_fees(venue_order(ORDER), fills).fee == Decimal("0.059628")  # kept as listed


def test_holdings_are_totals_and_leave_out_zero() -> None:
    balance = {"total": {"BTC": 0.0001988, "USD": 90.0, "ETH": 0.0},
               "free": {"BTC": 0.0001988, "USD": 80.0}, "used": {"USD": 10.0}}
    assert holdings_of(balance) == {"BTC": Decimal("0.0001988"), "USD": Decimal("90.0")}
    assert holdings_of({"free": {"USD": 1.5}, "used": {"USD": 0.5}}) == {"USD": Decimal("2.0")}


def test_pages_are_kept_once_each_filtered_by_time_and_symbol_oldest_first() -> None:
    got = Collected()
    item = {"id": "b", "timestamp": 20, "symbol": "BTC/USD", "clientOrderId": "x"}
    assert got.add([{"id": "a", "timestamp": 10, "symbol": "BTC/USD"}, item]) == 2
    assert got.add([item, {"id": "c", "timestamp": 15, "symbol": "ETH/USD"}]) == 1
    assert [i["id"] for i in got.since(15, "BTC/USD")] == ["b"]
    assert [i["id"] for i in got.since(0)] == ["a", "c", "b"]
    assert matching(got.by_id.values(), "x") == item and matching([item], "y") is None


def test_a_listing_longer_than_the_page_bound_is_inconclusive_not_partial() -> None:
    got = Collected()
    for _ in range(MAX_PAGES):
        got.add([])
    with pytest.raises(OrderLookupInconclusive):
        got.add([])


def test_milliseconds_of_aware_and_naive_utc() -> None:
    moment = datetime(2026, 12, 7, 22, 7, 35, 345000)
    assert ms(moment) == ms(moment.replace(tzinfo=UTC)) == 1796681255345
