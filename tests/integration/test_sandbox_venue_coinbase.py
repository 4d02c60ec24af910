"""ccxt ``coinbase`` (unmodified, async and sync) against the sandbox's coinbase venue, with
legacy HMAC keys and cloud (JWT ES256) keys.

Markets parse as ccxt parses the recorded Coinbase products; a buy by cost with a
``client_order_id`` is found again by listing orders and matching the id (Coinbase has no
lookup by client id that ccxt can use); a repeated ``client_order_id`` creates no second order;
every Coinbase error body raises the ccxt exception class it raises against the real exchange.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import httpx
import pytest

from sandbox import AsyncSandboxAdmin, SandboxAdmin, SandboxServer, SandboxThread
from sandbox.dialects.coinbase_auth import hmac_signature
from sandbox.testing import coinbase
from tests.support.ccxt_static import market_differences, parse_recorded_market, recorded_market
from tests.support.venue_fixtures import venue_fixtures

pytestmark = pytest.mark.integration

sandbox, admin, exchange = venue_fixtures("coinbase", "BTC-USD", coinbase)


@pytest.fixture(params=["hmac", "ec"])
async def key(request: pytest.FixtureRequest, admin: AsyncSandboxAdmin) -> dict[str, Any]:
    return await admin.create_key(balances={"USD": "100"}, key_type=request.param)


async def find_by_client_id(ex: Any, symbol: str, client_id: str) -> list[dict[str, Any]]:
    """Coinbase's way: list recent orders (open and closed) and match ``client_order_id``."""
    orders = await ex.fetch_open_orders(symbol) + await ex.fetch_closed_orders(symbol)
    return [o for o in orders if o["clientOrderId"] == client_id]


async def test_key_material_selects_the_auth_scheme(key: dict[str, Any]) -> None:
    if key["api_key"].startswith("organizations/"):
        assert key["secret"].startswith("-----BEGIN EC PRIVATE KEY-----")
    else:
        assert len(key["secret"]) == 64 and not key["secret"].endswith("=")


@pytest.mark.parametrize("symbol", ["BTC/USD", "BTC/USDC"])
async def test_load_markets_parses_as_the_recorded_fixture(exchange: Any, symbol: str) -> None:
    market = (await exchange.load_markets())[symbol]
    assert market_differences(market, parse_recorded_market("coinbase", symbol)) == []
    assert market_differences(market, recorded_market("coinbase", symbol)) == []
    assert market["limits"]["cost"]["min"] == 1.0 and market["precision"]["amount"] == 1e-08


async def test_ticker_and_balance(exchange: Any) -> None:
    ticker = await exchange.fetch_ticker("BTC/USD")
    assert ticker["last"] == 50000.0 and ticker["bid"] < ticker["ask"]
    assert (await exchange.fetch_balance())["USD"]["total"] == 100.0


async def test_buy_by_cost_is_found_by_listing_and_matching_client_order_id(
        exchange: Any, admin: AsyncSandboxAdmin, key: dict[str, Any]) -> None:
    placed = await exchange.create_market_buy_order_with_cost(
        "BTC/USD", 10, {"client_order_id": "cp-0001"})
    assert placed["clientOrderId"] == "cp-0001"
    found = await find_by_client_id(exchange, "BTC/USD", "cp-0001")
    assert [o["id"] for o in found] == [placed["id"]]
    order = await exchange.fetch_order(placed["id"], "BTC/USD")
    assert (order["status"], order["filled"], order["average"]) == ("closed", 0.0001988, 50000.0)
    fee = Decimal(str(order["fee"]["cost"]))
    assert order["fee"]["currency"] == "USD" and Decimal("9.94") + fee <= 10
    truth = await admin.orders(api_key=key["api_key"])
    assert [(o["venue_order_id"], o["clientOrderId"]) for o in truth] == [(placed["id"],
                                                                           "cp-0001")]
    balance = await exchange.fetch_balance()
    assert balance["BTC"]["total"] == 0.0001988
    assert Decimal(str(balance["USD"]["total"])) == 100 - Decimal("9.94") - fee


async def test_repeated_client_order_id_returns_the_first_order(
        exchange: Any, admin: AsyncSandboxAdmin) -> None:
    first = await exchange.create_market_buy_order_with_cost("BTC/USD", 5,
                                                            {"client_order_id": "cp-same"})
    again = await exchange.create_market_buy_order_with_cost("BTC/USD", 5,
                                                            {"client_order_id": "cp-same"})
    assert again["id"] == first["id"]
    assert len(await admin.orders()) == 1


async def test_base_quantity_orders(exchange: Any) -> None:
    """ccxt sends a market buy as ``quote_size`` = amount x price; a sell as ``base_size``."""
    bought = await exchange.create_order("BTC/USD", "market", "buy", 0.0001, 50000,
                                         {"client_order_id": "cp-b"})
    assert (await exchange.fetch_order(bought["id"]))["filled"] == 0.0000994
    sold = await exchange.create_order("BTC/USD", "market", "sell", 0.00005,
                                       None, {"client_order_id": "cp-s"})
    order = await exchange.fetch_order(sold["id"], "BTC/USD")
    assert (order["side"], order["amount"], order["filled"]) == ("sell", 0.00005, 0.00005)


async def test_refused_orders_raise_the_mapped_exceptions(exchange: Any,
                                                          admin: AsyncSandboxAdmin) -> None:
    with pytest.raises(ccxt.InsufficientFunds, match="PREVIEW_INSUFFICIENT_FUND"):
        await exchange.create_market_buy_order_with_cost("BTC/USD", 500)
    with pytest.raises(ccxt.ExchangeError, match="PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL"):
        await exchange.create_market_buy_order_with_cost("BTC/USD", 0.5)
    with pytest.raises(ccxt.BadRequest, match="INVALID_ARGUMENT"):
        await exchange.v3PrivatePostBrokerageOrders({"product_id": "BTC-USD", "side": "BUY"})
    assert await admin.orders() == []


async def test_two_dollars_is_accepted(exchange: Any) -> None:
    placed = await exchange.create_market_buy_order_with_cost("BTC/USD", 2,
                                                             {"client_order_id": "cp-2"})
    assert (await exchange.fetch_order(placed["id"]))["status"] == "closed"


async def test_unknown_order_and_cancel_of_a_filled_order(exchange: Any) -> None:
    with pytest.raises(ccxt.ExchangeError, match="NOT_FOUND"):
        await exchange.fetch_order("00000000-0000-0000-0000-00000000ffff")
    placed = await exchange.create_market_buy_order_with_cost("BTC/USD", 5,
                                                             {"client_order_id": "cp-c"})
    answer = await exchange.v3PrivatePostBrokerageOrdersBatchCancel({"order_ids": [placed["id"]]})
    assert answer["results"] == [{"success": False, "failure_reason": "INVALID_CANCEL_REQUEST",
                                  "order_id": placed["id"]}]


async def test_wrong_secret_unknown_key_and_no_trade_permission(
        sandbox: SandboxServer, admin: AsyncSandboxAdmin, key: dict[str, Any]) -> None:
    other = await admin.create_key(key_type="ec" if "/" in key["api_key"] else "hmac")
    wrong = coinbase(sandbox.url, {**key, "secret": other["secret"]})
    unknown = coinbase(sandbox.url, {**other, "api_key": other["api_key"] + "x"})
    readonly = coinbase(sandbox.url, await admin.create_key(
        balances={"USD": "100"}, can_trade=False, key_type="ec" if "/" in key["api_key"] else None))
    try:
        for ex in (wrong, unknown):
            with pytest.raises(ccxt.AuthenticationError):
                await ex.fetch_balance()
            with pytest.raises(ccxt.AuthenticationError):
                await ex.fetch_open_orders("BTC/USD")
        assert (await readonly.fetch_balance())["USD"]["total"] == 100.0
        permissions = await readonly.v3PrivateGetBrokerageKeyPermissions()
        assert (permissions["can_view"], permissions["can_trade"]) == (True, False)
        with pytest.raises(ccxt.PermissionDenied, match="PERMISSION_DENIED"):
            await readonly.create_market_buy_order_with_cost("BTC/USD", 10,
                                                             {"client_order_id": "cp-ro"})
    finally:
        for ex in (wrong, unknown, readonly):
            await ex.close()
    assert await admin.orders() == []


async def test_stale_hmac_timestamp_is_refused(sandbox: SandboxServer,
                                               admin: AsyncSandboxAdmin) -> None:
    key = await admin.create_key()
    ts = str(sandbox.states["coinbase"].clock() // 1000 - 120)
    headers = {"CB-ACCESS-KEY": key["api_key"], "CB-ACCESS-TIMESTAMP": ts,
               "CB-ACCESS-SIGN": hmac_signature(key["secret"], ts, "GET", "/v2/accounts", "")}
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(sandbox.venue_url("coinbase") + "/v2/accounts",
                                    headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": [{"id": "authentication_error",
                                           "message": "request timestamp expired"}]}


async def test_faults_answer_in_coinbase_format(exchange: Any, admin: AsyncSandboxAdmin) -> None:
    await admin.add_fault("/api/v3/brokerage/market/products/BTC-USD/ticker", "rate_limit",
                          count=1)
    with pytest.raises(ccxt.RateLimitExceeded):
        await exchange.fetch_ticker("BTC/USD")
    await admin.add_fault("GET /v2/accounts", "http5xx", count=1)
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await exchange.fetch_balance()
    assert (await exchange.fetch_balance())["USD"]["total"] == 100.0


async def test_lost_answer_order_exists_and_is_found_by_listing(
        sandbox: SandboxServer, admin: AsyncSandboxAdmin, key: dict[str, Any]) -> None:
    await admin.add_fault("POST /api/v3/brokerage/orders", "lost_response", count=1,
                          latency_ms=0)
    ex = coinbase(sandbox.url, key)
    try:
        with pytest.raises(ccxt.NetworkError):
            await ex.create_market_buy_order_with_cost("BTC/USD", 10,
                                                       {"client_order_id": "cp-lost"})
        assert len(await find_by_client_id(ex, "BTC/USD", "cp-lost")) == 1
        retried = await ex.create_market_buy_order_with_cost("BTC/USD", 10,
                                                             {"client_order_id": "cp-lost"})
        assert retried["clientOrderId"] == "cp-lost"
    finally:
        await ex.close()
    assert len(await admin.orders()) == 1


async def test_order_listing_filters(exchange: Any) -> None:
    for i in range(3):
        await exchange.create_market_buy_order_with_cost("BTC/USD", 2,
                                                         {"client_order_id": f"cp-l{i}"})
    page = await exchange.v3PrivateGetBrokerageOrdersHistoricalBatch(
        {"order_status": "FILLED", "product_id": "BTC-USD", "limit": 2})
    assert [o["client_order_id"] for o in page["orders"]] == ["cp-l2", "cp-l1"]
    assert page["has_next"] is True
    assert (await exchange.v3PrivateGetBrokerageOrdersHistoricalBatch(
        {"order_status": "OPEN"}))["orders"] == []


def test_sync_ccxt_buys_and_finds_by_listing() -> None:
    with SandboxThread(seed=2) as sb:
        admin = SandboxAdmin(sb.url, venue="coinbase")
        admin.set_price("BTC-USD", "40000")
        ex = coinbase(sb.url, admin.create_key(balances={"USD": "50"}), sync=True)
        placed = ex.create_market_buy_order_with_cost("BTC/USD", 4, {"client_order_id": "s-1"})
        closed = ex.fetch_closed_orders("BTC/USD")
        assert [o["id"] for o in closed if o["clientOrderId"] == "s-1"] == [placed["id"]]
        assert ex.fetch_balance()["BTC"]["total"] == 0.00009940


async def test_admin_reads_and_changes_a_cloud_key(admin: AsyncSandboxAdmin) -> None:
    """Cloud key names contain ``/``; the admin routes take them whole."""
    key = await admin.create_key(balances={"USD": "3"}, key_type="ec")
    assert (await admin.get_key(key["api_key"]))["balances"] == [
        {"asset": "USD", "free": "3.00000000", "locked": "0.00000000"}]
    assert (await admin.set_key(key["api_key"], can_trade=False))["can_trade"] is False
    await admin.delete_key(key["api_key"])
