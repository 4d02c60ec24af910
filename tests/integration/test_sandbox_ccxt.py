"""Async ccxt ``binanceus`` against the sandbox: markets, balances, orders, auth errors.

Everything goes through unmodified ccxt (only ``urls['api']`` rewritten); the admin API is
used for setup and as ground truth.
"""
from __future__ import annotations

from typing import Any

import ccxt
import pytest

from sandbox import AsyncSandboxAdmin, SandboxServer
from sandbox.testing import binanceus
from tests.support.venue_fixtures import venue_fixtures

pytestmark = pytest.mark.integration

FEE = 0.001


sandbox, admin, exchange = venue_fixtures("binanceus", "BTCUSDT", binanceus)


@pytest.fixture
async def key(admin: AsyncSandboxAdmin) -> dict[str, Any]:
    return await admin.create_key(balances={"USDT": "100", "BTC": "0.01"})


async def test_load_markets_parses_btc_usdt_limits_and_precision(exchange: Any) -> None:
    markets = await exchange.load_markets()
    assert {"BTC/USDT", "ETH/USDT", "BTC/USD"} <= set(markets)
    btc = markets["BTC/USDT"]
    assert btc["active"] and btc["spot"]
    assert btc["precision"] == {"amount": 1e-05, "price": 0.01, "base": 1e-08, "quote": 1e-08}
    assert btc["limits"]["amount"] == {"min": 1e-05, "max": 9000.0}
    assert btc["limits"]["cost"]["min"] == 1.0
    assert btc["limits"]["price"] == {"min": 0.01, "max": 1000000.0}


async def test_tickers_move_on_the_random_walk(exchange: Any) -> None:
    eth = [(await exchange.fetch_ticker("ETH/USDT"))["last"] for _ in range(5)]
    assert len(set(eth)) > 1
    tickers = await exchange.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}
    assert tickers["BTC/USDT"]["last"] == 50000.0  # pinned
    assert len(await exchange.fetch_tickers()) >= 3
    book = await exchange.fetch_order_book("BTC/USDT", 5)
    assert book["bids"][0][0] < 50000.0 < book["asks"][0][0]


async def test_fetch_balance_with_a_good_key(exchange: Any) -> None:
    balance = await exchange.fetch_balance()
    assert balance["USDT"] == {"free": 100.0, "used": 0.0, "total": 100.0}
    assert balance["total"]["BTC"] == 0.01
    assert balance["info"]["canTrade"] is True and balance["info"]["permissions"] == ["SPOT"]


async def test_wrong_secret_raises_authentication_error(sandbox: SandboxServer,
                                                        key: dict[str, Any]) -> None:
    ex = binanceus(sandbox.url, {**key, "secret": "not-the-secret"})
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await ex.fetch_balance()
    finally:
        await ex.close()


async def test_unknown_key_raises_authentication_error(sandbox: SandboxServer) -> None:
    ex = binanceus(sandbox.url, {"api_key": "unknownkey", "secret": "whatever"})
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await ex.fetch_balance()
    finally:
        await ex.close()


@pytest.mark.parametrize("how", ["with_cost", "quoteOrderQty"])
async def test_two_dollar_market_buy_fills_and_moves_the_balance(
        exchange: Any, admin: AsyncSandboxAdmin, how: str) -> None:
    if how == "with_cost":
        order = await exchange.create_market_buy_order_with_cost("BTC/USDT", 2)
    else:
        order = await exchange.create_order("BTC/USDT", "market", "buy", None, None,
                                            {"quoteOrderQty": 2})
    assert order["id"] and order["status"] == "closed"
    assert order["cost"] == 2.0 and order["filled"] == pytest.approx(2 / 50000)
    assert order["fee"] == {"currency": "BTC", "cost": pytest.approx(2 / 50000 * FEE)}
    balance = await exchange.fetch_balance()
    assert balance["total"]["USDT"] == pytest.approx(98.0)
    assert balance["total"]["BTC"] == pytest.approx(0.01 + 2 / 50000 * (1 - FEE))
    placed = await admin.orders()
    assert [(o["orderId"], o["status"]) for o in placed] == [(int(order["id"]), "FILLED")]


async def test_buy_below_min_notional_raises_bad_request_not_invalid_order(
        exchange: Any, admin: AsyncSandboxAdmin) -> None:
    """Binance answers -1013 "Filter failure: NOTIONAL"; ccxt 4.5.90 maps that to BadRequest,
    a sibling of InvalidOrder under ExchangeError (only LOT_SIZE/PRICE_FILTER texts become
    InvalidOrder). Callers that want both must catch ``(InvalidOrder, BadRequest)``."""
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL") as exc:
        await exchange.create_market_buy_order_with_cost("BTC/USDT", 0.5)
    assert not isinstance(exc.value, ccxt.InvalidOrder)
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):  # a LOT_SIZE failure is InvalidOrder
        await exchange.create_order("BTC/USDT", "limit", "buy", 9001, 1)
    assert await admin.orders() == []


async def test_insufficient_balance_raises_insufficient_funds(exchange: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        await exchange.create_market_buy_order_with_cost("BTC/USDT", 500)


async def test_duplicate_client_order_id_is_refused_and_only_one_order_exists(
        exchange: Any, admin: AsyncSandboxAdmin) -> None:
    params = {"clientOrderId": "retry-1"}
    first = await exchange.create_order("BTC/USDT", "market", "buy", None, None,
                                        {**params, "quoteOrderQty": 2})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        await exchange.create_order("BTC/USDT", "market", "buy", None, None,
                                    {**params, "quoteOrderQty": 2})
    placed = await admin.orders()
    assert [(o["clientOrderId"], o["orderId"]) for o in placed] == [("retry-1", int(first["id"]))]
    assert (await exchange.fetch_balance())["total"]["USDT"] == pytest.approx(98.0)


async def test_fetch_order_by_client_order_id_and_by_id(exchange: Any) -> None:
    placed = await exchange.create_order("BTC/USDT", "market", "buy", 0.0001, None,
                                         {"newClientOrderId": "a.b:c/d_e-f"})
    by_cid = await exchange.fetch_order(None, "BTC/USDT", {"clientOrderId": "a.b:c/d_e-f"})
    by_id = await exchange.fetch_order(placed["id"], "BTC/USDT")
    assert by_cid["id"] == by_id["id"] == placed["id"]
    assert by_cid["clientOrderId"] == "a.b:c/d_e-f" and by_cid["status"] == "closed"
    assert len(await exchange.fetch_my_trades("BTC/USDT")) == 1
    with pytest.raises(ccxt.OrderNotFound):
        await exchange.fetch_order("424242", "BTC/USDT")


async def test_resting_limit_order_can_be_listed_and_canceled(
        exchange: Any, admin: AsyncSandboxAdmin) -> None:
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 40000,
                                        {"clientOrderId": "rest-1"})
    assert order["status"] == "open" and order["remaining"] == 0.001
    assert (await exchange.fetch_balance())["USDT"] == {"free": 60.0, "used": 40.0,
                                                       "total": 100.0}
    assert [o["id"] for o in await exchange.fetch_open_orders("BTC/USDT")] == [order["id"]]
    canceled = await exchange.cancel_order(order["id"], "BTC/USDT")
    assert canceled["status"] == "canceled"
    assert await exchange.fetch_open_orders("BTC/USDT") == []
    assert (await exchange.fetch_balance())["USDT"]["free"] == 100.0
    with pytest.raises(ccxt.OrderNotFound):
        await exchange.cancel_order(order["id"], "BTC/USDT")
    assert [o["status"] for o in await admin.orders()] == ["CANCELED"]
    assert [o["status"] for o in await exchange.fetch_orders("BTC/USDT")] == ["canceled"]


async def test_resting_limit_fills_when_the_price_crosses(
        exchange: Any, admin: AsyncSandboxAdmin) -> None:
    order = await exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 40000)
    await admin.set_price("BTCUSDT", "39999")
    filled = await exchange.fetch_order(order["id"], "BTC/USDT")
    assert filled["status"] == "closed" and filled["average"] == 40000.0


async def test_cancel_all_orders(exchange: Any) -> None:
    for price in (40000, 41000):
        await exchange.create_order("BTC/USDT", "limit", "buy", 0.0001, price)
    await exchange.cancel_all_orders("BTC/USDT")
    assert await exchange.fetch_open_orders("BTC/USDT") == []


async def test_key_without_trading_permission_cannot_place_an_order(
        sandbox: SandboxServer, admin: AsyncSandboxAdmin) -> None:
    key = await admin.create_key(can_trade=False, balances={"USDT": "100"})
    ex = binanceus(sandbox.url, key)
    try:
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await ex.create_market_buy_order_with_cost("BTC/USDT", 2)
        balance = await ex.fetch_balance()  # reading still works and tells why
        assert balance["info"]["canTrade"] is False
    finally:
        await ex.close()
    assert await admin.orders() == []


async def test_revoked_or_deleted_key_raises_authentication_error(
        sandbox: SandboxServer, admin: AsyncSandboxAdmin, key: dict[str, Any]) -> None:
    async def refused() -> None:
        ex = binanceus(sandbox.url, key)  # fresh instance: no earlier private success
        try:
            with pytest.raises(ccxt.AuthenticationError, match="-2015"):
                await ex.fetch_balance()
        finally:
            await ex.close()
    await admin.set_key(key["api_key"], revoked=True)
    await refused()
    await admin.delete_key(key["api_key"])
    await refused()


async def test_minus_2015_after_a_successful_private_call_is_ddos_protection_in_ccxt(
        exchange: Any, admin: AsyncSandboxAdmin, key: dict[str, Any]) -> None:
    """A ccxt 4.5.90 quirk worth knowing: once an instance has made a successful private call,
    it reports -2015 as DDoSProtection (it assumes an IP ban), not AuthenticationError."""
    await exchange.fetch_balance()
    await admin.set_key(key["api_key"], revoked=True)
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):
        await exchange.fetch_balance()


async def test_timestamp_outside_recv_window_raises_invalid_nonce(
        sandbox: SandboxServer, key: dict[str, Any]) -> None:
    ex = binanceus(sandbox.url, key, options={"timeDifference": 30_000})  # clock 30 s behind
    try:
        with pytest.raises(ccxt.InvalidNonce, match="-1021"):
            await ex.fetch_balance()
        await ex.fetch_balance({"recvWindow": 60_000})  # a wider window accepts it
    finally:
        await ex.close()
