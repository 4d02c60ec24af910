"""ccxt ``binance`` (binance.com spot, unmodified, async and sync) against the sandbox's binance
venue; and how the binance venues sit beside each other (root = /binanceus, /binance apart)."""
from __future__ import annotations

from typing import Any

import ccxt
import pytest

from sandbox import AsyncSandboxAdmin, SandboxAdmin, SandboxServer, SandboxThread
from sandbox.testing import binance, binanceus, venue_exchange
from tests.support.ccxt_static import market_differences, parse_recorded_market, recorded_market
from tests.support.venue_fixtures import venue_fixtures

pytestmark = pytest.mark.integration

sandbox, admin, exchange = venue_fixtures("binance", "BTCUSDT", binance)


@pytest.fixture
async def key(admin: AsyncSandboxAdmin) -> dict[str, Any]:
    return await admin.create_key(balances={"USDT": "100"})


async def test_load_markets_parses_btc_usdt_as_the_recorded_fixture(exchange: Any) -> None:
    btc = (await exchange.load_markets())["BTC/USDT"]
    assert market_differences(btc, parse_recorded_market("binance", "BTC/USDT")) == []
    assert market_differences(btc, recorded_market("binance", "BTC/USDT")) == []
    assert btc["limits"]["cost"]["min"] == 5.0


async def test_two_dollars_is_below_min_notional_five_is_not(
        exchange: Any, admin: AsyncSandboxAdmin) -> None:
    with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
        await exchange.create_market_buy_order_with_cost("BTC/USDT", 2)
    placed = await exchange.create_market_buy_order_with_cost("BTC/USDT", 5,
                                                             {"clientOrderId": "cp-0001"})
    found = await exchange.fetch_order(None, "BTC/USDT", {"origClientOrderId": "cp-0001"})
    assert (found["id"], found["status"], found["cost"]) == (placed["id"], "closed", 5.0)
    assert [o["clientOrderId"] for o in await admin.orders()] == ["cp-0001"]


async def test_base_quantity_buy_ticker_and_balance(exchange: Any) -> None:
    assert (await exchange.fetch_ticker("BTC/USDT"))["last"] == 50000.0
    placed = await exchange.create_order("BTC/USDT", "market", "buy", 0.0002)
    assert (placed["filled"], placed["cost"]) == (0.0002, 10.0)
    balance = await exchange.fetch_balance()
    assert (balance["USDT"]["total"], balance["BTC"]["total"]) == (90.0, 0.0001998)


async def test_errors(sandbox: SandboxServer, exchange: Any, admin: AsyncSandboxAdmin,
                      key: dict[str, Any]) -> None:
    with pytest.raises(ccxt.InsufficientFunds):
        await exchange.create_market_buy_order_with_cost("BTC/USDT", 500)
    readonly = binance(sandbox.url, await admin.create_key(balances={"USDT": "9"},
                                                           can_trade=False))
    wrong = binance(sandbox.url, {**key, "secret": "0" * 64})
    try:
        assert (await readonly.fetch_balance())["USDT"]["total"] == 9.0
        with pytest.raises((ccxt.AuthenticationError, ccxt.DDoSProtection), match="-2015"):
            await readonly.create_market_buy_order_with_cost("BTC/USDT", 5)
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await wrong.fetch_balance()
    finally:
        await readonly.close()
        await wrong.close()


async def test_root_and_binanceus_prefix_are_one_venue_binance_is_another(
        sandbox: SandboxServer, key: dict[str, Any]) -> None:
    us_key = await AsyncSandboxAdmin(sandbox.url).create_key(balances={"USDT": "7"})
    prefixed = venue_exchange("binanceus", sandbox.url, us_key)
    root = binanceus(sandbox.url, us_key)
    stranger = binanceus(sandbox.url, key)
    try:
        assert (await prefixed.fetch_balance())["USDT"]["total"] == 7.0
        assert (await root.fetch_balance())["USDT"]["total"] == 7.0
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await stranger.fetch_balance()
        assert (await root.load_markets())["BTC/USDT"]["limits"]["cost"]["min"] == 1.0
    finally:
        for ex in (prefixed, root, stranger):
            await ex.close()
    assert (await AsyncSandboxAdmin(sandbox.url, venue="binanceus").get_key(
        us_key["api_key"]))["venue"] == "binanceus"


async def test_faults_are_per_venue(exchange: Any, admin: AsyncSandboxAdmin,
                                    sandbox: SandboxServer) -> None:
    await admin.add_fault("/api/v3/ticker/24hr", "rate_limit", count=1)
    root = binanceus(sandbox.url)
    try:
        assert (await root.fetch_ticker("BTC/USDT"))["last"] > 0
        with pytest.raises(ccxt.DDoSProtection):
            await exchange.fetch_ticker("BTC/USDT")
    finally:
        await root.close()
    assert await AsyncSandboxAdmin(sandbox.url).faults() == []


def test_sync_ccxt_binance() -> None:
    with SandboxThread(seed=2) as sb:
        admin = SandboxAdmin(sb.url, venue="binance")
        admin.set_price("BTCUSDT", "40000")
        ex = binance(sb.url, admin.create_key(balances={"USDT": "20"}), sync=True)
        ex.create_market_buy_order_with_cost("BTC/USDT", 8, {"clientOrderId": "s-1"})
        assert ex.fetch_order(None, "BTC/USDT", {"origClientOrderId": "s-1"})["filled"] == 0.0002
