"""ccxt ``kraken`` (unmodified, async and sync) against the sandbox's kraken venue.

Markets parse as ccxt parses its recorded kraken markets; a buy by cost (``oflags=viqc``) and a
base-quantity buy carry a ``cl_ord_id`` and are found again by it; every Kraken error string
raises the ccxt exception class it raises against the real exchange.
"""
from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import ccxt
import httpx
import pytest

from sandbox import AsyncSandboxAdmin, SandboxAdmin, SandboxServer, SandboxThread
from sandbox.dialects.kraken import sign
from sandbox.testing import kraken
from tests.support.ccxt_static import market_differences, parse_recorded_market, recorded_market
from tests.support.venue_fixtures import venue_fixtures

pytestmark = pytest.mark.integration

sandbox, admin, exchange = venue_fixtures("kraken", "XXBTZUSD", kraken)


@pytest.fixture
async def key(admin: AsyncSandboxAdmin) -> dict[str, Any]:
    return await admin.create_key(balances={"USD": "100"})


async def test_key_material_is_kraken_shaped(key: dict[str, Any]) -> None:
    assert key["venue"] == "kraken"
    assert len(base64.b64decode(key["secret"])) == 64


async def test_load_markets_parses_btc_usd_as_the_recorded_fixture(exchange: Any) -> None:
    markets = await exchange.load_markets()
    btc = markets["BTC/USD"]
    assert market_differences(btc, parse_recorded_market("kraken", "BTC/USD")) == []
    assert btc["precision"] == recorded_market("kraken", "BTC/USD")["precision"]
    assert (btc["limits"]["amount"]["min"], btc["limits"]["cost"]["min"]) == (0.0001, 0.5)
    assert btc["altname"] == "XBTUSD" and btc["active"]


async def test_ticker_and_balance(exchange: Any) -> None:
    ticker = await exchange.fetch_ticker("BTC/USD")
    assert ticker["last"] == 50000.0 and ticker["bid"] < ticker["ask"]
    balance = await exchange.fetch_balance()
    assert balance["USD"] == {"free": 100.0, "used": 0.0, "total": 100.0}


async def test_buy_by_cost_is_found_again_by_its_client_order_id(
        exchange: Any, admin: AsyncSandboxAdmin, key: dict[str, Any]) -> None:
    placed = await exchange.create_market_buy_order_with_cost(
        "BTC/USD", 10, {"clientOrderId": "cp-0001"})
    assert placed["id"].startswith("O") and placed["cost"] == 10.0
    closed = await exchange.fetch_closed_orders("BTC/USD", params={"clientOrderId": "cp-0001"})
    assert [o["id"] for o in closed] == [placed["id"]]
    order = closed[0]
    assert order["clientOrderId"] == "cp-0001" and order["status"] == "closed"
    # viqc: cost + fee (0.26 %, in USD) never exceeds the $10 asked for
    assert order["filled"] == 0.00019948 and order["cost"] == 9.974
    fee = Decimal(str(order["fee"]["cost"]))
    assert order["fee"]["currency"] == "USD" and fee == Decimal("0.0259324")
    assert Decimal("9.974") + fee <= 10
    assert await exchange.fetch_open_orders("BTC/USD", params={"clientOrderId": "cp-0001"}) == []
    assert await exchange.fetch_closed_orders("BTC/USD", params={"clientOrderId": "other"}) == []
    truth = await admin.orders(api_key=key["api_key"])
    assert [(o["venue_order_id"], o["clientOrderId"]) for o in truth] == [(placed["id"],
                                                                           "cp-0001")]
    balance = await exchange.fetch_balance()
    assert balance["BTC"]["total"] == 0.00019948
    assert Decimal(str(balance["USD"]["total"])) == Decimal(100) - Decimal("9.974") - fee


async def test_base_quantity_buy_is_found_by_txid(exchange: Any) -> None:
    placed = await exchange.create_order("BTC/USD", "market", "buy", 0.0002, None,
                                         {"clientOrderId": "cp-base"})
    order = await exchange.fetch_order(placed["id"])
    assert (order["amount"], order["filled"], order["status"]) == (0.0002, 0.0002, "closed")
    assert order["clientOrderId"] == "cp-base" and order["cost"] == 10.0


async def test_two_dollars_is_below_the_kraken_minimum(exchange: Any,
                                                     admin: AsyncSandboxAdmin) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Order minimum not met"):
        await exchange.create_market_buy_order_with_cost("BTC/USD", 2)
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Order minimum not met"):
        await exchange.create_order("BTC/USD", "market", "buy", 0.00009)
    assert await admin.orders() == []


async def test_insufficient_funds_and_unknown_pair(exchange: Any) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="EOrder:Insufficient funds"):
        await exchange.create_market_buy_order_with_cost("BTC/USD", 500)
    with pytest.raises(ccxt.ExchangeError, match="EQuery:Unknown asset pair"):
        await exchange.public_get_ticker({"pair": "NOPEUSD"})
    with pytest.raises(ccxt.ExchangeError, match="EQuery:Unknown asset pair"):
        await exchange.private_post_addorder({"pair": "NOPEUSD", "type": "buy",
                                              "ordertype": "market", "volume": "1"})


async def test_wrong_secret_unknown_key_and_no_trade_permission(
        sandbox: SandboxServer, admin: AsyncSandboxAdmin, key: dict[str, Any]) -> None:
    wrong = kraken(sandbox.url, {**key, "secret": base64.b64encode(b"x" * 64).decode()})
    unknown = kraken(sandbox.url, {**key, "api_key": "nokey"})
    readonly_key = await admin.create_key(balances={"USD": "100"}, can_trade=False)
    readonly = kraken(sandbox.url, readonly_key)
    try:
        with pytest.raises(ccxt.ExchangeError, match="EAPI:Invalid signature"):
            await wrong.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
            await unknown.fetch_balance()
        assert (await readonly.fetch_balance())["USD"]["total"] == 100.0
        with pytest.raises(ccxt.PermissionDenied, match="EGeneral:Permission denied"):
            await readonly.create_market_buy_order_with_cost("BTC/USD", 10)
    finally:
        for ex in (wrong, unknown, readonly):
            await ex.close()
    assert await admin.orders() == []


async def test_a_nonce_not_above_the_last_one_is_refused(
        sandbox: SandboxServer, exchange: Any, key: dict[str, Any]) -> None:
    await exchange.fetch_balance()
    late = kraken(sandbox.url, key, options={"timeDifference": 60_000})
    try:
        with pytest.raises(ccxt.InvalidNonce, match="EAPI:Invalid nonce"):
            await late.fetch_balance()
    finally:
        await late.close()
    body = "nonce=1"
    headers = {"API-Key": key["api_key"],
               "API-Sign": sign("/0/private/Balance", "1", body, key["secret"])}
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(sandbox.venue_url("kraken") + "/0/private/Balance",
                                     content=body, headers=headers)
    assert (response.status_code, response.json()) == (200, {"error": ["EAPI:Invalid nonce"]})


async def test_faults_answer_in_kraken_format(exchange: Any, admin: AsyncSandboxAdmin) -> None:
    await admin.add_fault("/0/public/Ticker", "rate_limit", count=1)
    with pytest.raises(ccxt.DDoSProtection, match="EAPI:Rate limit exceeded"):
        await exchange.fetch_ticker("BTC/USD")
    await admin.add_fault("POST /0/private/BalanceEx", "http5xx", count=1)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await exchange.fetch_balance()
    assert (await exchange.fetch_ticker("BTC/USD"))["last"] == 50000.0
    assert [f["fired"] for f in await admin.faults()] == [1, 1]


async def test_lost_answer_order_exists_and_is_found_by_client_id(
        sandbox: SandboxServer, admin: AsyncSandboxAdmin, key: dict[str, Any]) -> None:
    await admin.add_fault("POST /0/private/AddOrder", "lost_response", count=1, latency_ms=0)
    ex = kraken(sandbox.url, key)
    try:
        with pytest.raises(ccxt.NetworkError):
            await ex.create_market_buy_order_with_cost("BTC/USD", 10, {"clientOrderId": "cp-lost"})
        found = await ex.fetch_closed_orders("BTC/USD", params={"clientOrderId": "cp-lost"})
        assert [o["clientOrderId"] for o in found] == ["cp-lost"]
    finally:
        await ex.close()
    assert len(await admin.orders()) == 1


async def test_venues_are_isolated(sandbox: SandboxServer, key: dict[str, Any]) -> None:
    """A kraken key is unknown to binanceus and kraken orders are not binanceus orders."""
    assert await AsyncSandboxAdmin(sandbox.url).orders() == []
    assert key["api_key"] not in sandbox.state.keys.keys
    assert key["api_key"] in sandbox.states["kraken"].keys.keys


def test_sync_ccxt_buys_and_finds_by_client_order_id() -> None:
    with SandboxThread(seed=2) as sb:
        admin = SandboxAdmin(sb.url, venue="kraken")
        admin.set_price("XXBTZUSD", "60000")
        ex = kraken(sb.url, admin.create_key(balances={"USD": "50"}), sync=True)
        placed = ex.create_market_buy_order_with_cost("BTC/USD", 12, {"clientOrderId": "s-1"})
        found = ex.fetch_closed_orders("BTC/USD", params={"clientOrderId": "s-1"})
        assert [o["id"] for o in found] == [placed["id"]]
        assert ex.fetch_balance()["BTC"]["total"] == 0.00019948
