"""The sandbox's exchange core: fills, fees, locks, duplicates and cancels, all in Decimal."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.auth import ApiKey
from sandbox.errors import BinanceError
from sandbox.state import SandboxState

pytestmark = pytest.mark.unit

D = Decimal


def make_state(usdt: str = "100", btc: str = "0") -> tuple[SandboxState, ApiKey]:
    state = SandboxState(seed=7, clock=lambda: 1_000_000)
    key = state.create_key({"USDT": D(usdt), "BTC": D(btc)}, api_key="k", secret="s")
    state.pin("BTCUSDT", D("50000"))
    return state, key


def balances(state: SandboxState, key: ApiKey) -> dict[str, tuple[Decimal, Decimal]]:
    acct = state.engine.accounts[key.account_id]
    return {a: (acct.available(a), acct.locked.get(a, D(0))) for a in ("USDT", "BTC")}


def place(state: SandboxState, key: ApiKey, **params: str) -> object:
    return state.engine.place(key, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                    **params})


def code_of(fn: object, *args: object, **kw: object) -> tuple[int, str]:
    with pytest.raises(BinanceError) as exc:
        fn(*args, **kw)  # type: ignore[operator]
    return exc.value.code, exc.value.msg


def test_two_dollar_market_buy_moves_balances_and_charges_fee_in_base() -> None:
    state, key = make_state()
    order = place(state, key, quoteOrderQty="2")
    assert order.status == "FILLED"
    assert (order.executed_qty, order.cum_quote) == (D("0.00004"), D("2"))
    fill = order.fills[0]
    assert (fill.price, fill.commission, fill.commission_asset) == (D("50000"), D("4E-8"), "BTC")
    assert balances(state, key) == {"USDT": (D("98"), 0), "BTC": (D("0.00003996"), 0)}
    assert order.full()["fills"][0]["commission"] == "0.00000004"


def test_market_sell_charges_fee_in_quote() -> None:
    state, key = make_state(usdt="0", btc="1")
    order = place(state, key, side="SELL", quantity="0.001")
    assert order.cum_quote == D("50")
    assert order.fills[0].commission_asset == "USDT"
    assert balances(state, key) == {"USDT": (D("49.95"), 0), "BTC": (D("0.999"), 0)}


def test_insufficient_balance_is_refused_and_recorded() -> None:
    state, key = make_state(usdt="1.5")
    assert code_of(place, state, key, quoteOrderQty="2") == (
        -2010, "Account has insufficient balance for requested action.")
    assert not state.engine.orders
    assert state.engine.rejected[0]["code"] == -2010


def test_client_order_id_is_never_reusable_even_after_fill_or_cancel() -> None:
    state, key = make_state()
    place(state, key, quoteOrderQty="2", newClientOrderId="cid-1")
    assert code_of(place, state, key, quoteOrderQty="2", newClientOrderId="cid-1") == (
        -2010, "Duplicate order sent.")
    limit = place(state, key, type="LIMIT", quantity="0.001", price="40000", timeInForce="GTC",
                  newClientOrderId="cid-2")
    state.engine.cancel(key.account_id, {"symbol": "BTCUSDT", "orderId": str(limit.order_id)})
    assert code_of(place, state, key, quoteOrderQty="2", newClientOrderId="cid-2")[0] == -2010
    assert len(state.engine.orders) == 2


def test_duplicate_is_reported_before_balance_so_a_retry_is_recognised() -> None:
    state, key = make_state(usdt="2")
    place(state, key, quoteOrderQty="2", newClientOrderId="retry-me")
    assert code_of(place, state, key, quoteOrderQty="2", newClientOrderId="retry-me")[1] == (
        "Duplicate order sent.")


def test_resting_limit_locks_funds_and_cancel_releases_them() -> None:
    state, key = make_state()
    order = place(state, key, type="LIMIT", quantity="0.001", price="40000", timeInForce="GTC")
    assert order.status == "NEW"
    assert balances(state, key)["USDT"] == (D("60"), D("40"))
    result = state.engine.cancel(key.account_id, {"symbol": "BTCUSDT",
                                                  "origClientOrderId": order.client_order_id})
    assert result["status"] == "CANCELED"
    assert balances(state, key)["USDT"] == (D("100"), D("0"))
    assert code_of(state.engine.cancel, key.account_id,
                   {"symbol": "BTCUSDT", "orderId": str(order.order_id)})[0] == -2011


def test_resting_limit_fills_at_its_price_when_the_price_crosses() -> None:
    state, key = make_state()
    order = place(state, key, type="LIMIT", quantity="0.001", price="40000", timeInForce="GTC")
    state.pin("BTCUSDT", D("39000"))
    assert order.status == "FILLED"
    assert order.fills[0].price == D("40000") and order.fills[0].is_maker
    assert balances(state, key) == {"USDT": (D("60"), D("0")), "BTC": (D("0.000999"), 0)}


def test_marketable_limit_fills_at_market_and_releases_the_excess_lock() -> None:
    state, key = make_state()
    order = place(state, key, type="LIMIT", quantity="0.001", price="60000", timeInForce="GTC")
    assert order.status == "FILLED" and order.cum_quote == D("50")
    assert balances(state, key)["USDT"] == (D("50"), D("0"))


def test_limit_maker_that_would_take_and_unmatched_ioc() -> None:
    state, key = make_state()
    assert code_of(place, state, key, type="LIMIT_MAKER", quantity="0.001",
                   price="60000")[1] == "Order would immediately match and take."
    ioc = place(state, key, type="LIMIT", quantity="0.001", price="40000", timeInForce="IOC")
    assert ioc.status == "EXPIRED"
    assert balances(state, key)["USDT"] == (D("100"), D("0"))


def test_unknown_order_codes_differ_for_query_and_cancel() -> None:
    state, key = make_state()
    from sandbox import errors
    params = {"symbol": "BTCUSDT", "orderId": "999999"}
    assert code_of(state.engine.find, key.account_id, params, errors.no_such_order())[0] == -2013
    assert code_of(state.engine.cancel, key.account_id, params)[0] == -2011


def test_orders_of_another_account_are_invisible() -> None:
    state, key = make_state()
    other = state.create_key({"USDT": D("100")}, api_key="other", secret="s")
    order = place(state, key, quoteOrderQty="2", newClientOrderId="mine")
    from sandbox import errors
    for params in ({"orderId": str(order.order_id)}, {"origClientOrderId": "mine"}):
        with pytest.raises(BinanceError):
            state.engine.find(other.account_id, {"symbol": "BTCUSDT", **params},
                              errors.no_such_order())
    place(state, other, quoteOrderQty="2", newClientOrderId="mine")  # ids are per account


@settings(max_examples=60, deadline=None)
@given(spends=st.lists(st.integers(min_value=200, max_value=5_000), min_size=1, max_size=8),
       price=st.integers(min_value=1_000_000, max_value=9_000_000))
def test_buys_conserve_value_exactly(spends: list[int], price: int) -> None:
    state, key = make_state(usdt="1000")
    state.pin("BTCUSDT", D(price) / 100)
    for cents in spends:
        place(state, key, quoteOrderQty=f"{D(cents) / 100:f}")
    orders = list(state.engine.orders.values())
    spent = sum((o.cum_quote for o in orders), D(0))
    got = sum((o.executed_qty - o.fills[0].commission for o in orders), D(0))
    assert balances(state, key) == {"USDT": (D("1000") - spent, 0), "BTC": (got, 0)}
    assert all(o.cum_quote <= o.orig_quote_qty for o in orders)
