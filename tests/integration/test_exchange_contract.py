"""The adapter contract, one test per promise, run for every exchange against its sandbox
dialect through unmodified ccxt over HTTP (one in-process sandbox serving every venue).

Every adapter: buys by quote amount with a client order id valid for its exchange, reports the
fill (filled, cost, fee), finds the order again by that id (and nothing for an unknown id),
tells wrong secret / unknown key / no permission / insufficient funds apart from the
exchange's own error bodies, and resolves a lost answer by lookup: exactly one order.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from sandbox import AsyncSandboxAdmin, SandboxServer
from shared.events import RejectCategory
from shared.exchanges import EXCHANGES, TEST_SYMBOLS, adapter
from shared.exchanges.base import ExchangeAdapter, KeyProblem
from shared.orders import place_order
from shared.placement import Plan
from shared.settings import ExchangeSettings
from shared.vault import ApiKeyPair

pytestmark = pytest.mark.integration

ORDER_ENDPOINT = {"binanceus": "POST /api/v3/order", "binance": "POST /api/v3/order",
                  "kraken": "POST /0/private/AddOrder",
                  "coinbase": "POST /api/v3/brokerage/orders"}
PINNED = {"binanceus": "BTCUSDT", "binance": "BTCUSDT", "kraken": "XXBTZUSD",
          "coinbase": "BTC-USD"}
CANONICAL = "pg-" + "5eed" * 8


@pytest.fixture(params=EXCHANGES)
def exchange(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def venue(exchange: str) -> AsyncIterator[tuple[str, AsyncSandboxAdmin]]:
    async with SandboxServer(port=0, seed=1) as sb:
        url = sb.url if exchange == "binanceus" else f"{sb.url}/{exchange}"
        admin = AsyncSandboxAdmin(url)
        await admin.set_price(PINNED[exchange], "50000")
        yield url, admin


def _quote(exchange: str) -> str:
    return TEST_SYMBOLS[exchange].split("/")[1]


async def _client(exchange: str, url: str, key: dict[str, Any] | None,
                  secret: str | None = None) -> Any:
    pair = None if key is None else ApiKeyPair(key["api_key"], secret or key["secret"])
    client = adapter(exchange).make_client(ExchangeSettings(**{f"{exchange}_url": url}), pair)
    await client.load_markets()
    return client


async def test_buy_by_cost_reports_the_fill_and_is_found_by_its_client_id(
        exchange: str, venue: tuple[str, AsyncSandboxAdmin]) -> None:
    url, admin = venue
    ex: ExchangeAdapter = adapter(exchange)
    key = await admin.create_key(balances={_quote(exchange): "100"})
    client = await _client(exchange, url, key)
    symbol, cid = TEST_SYMBOLS[exchange], ex.client_order_id(CANONICAL)
    try:
        assert client.enableRateLimit is False  # loopback: ccxt's limiter off
        order = await ex.complete(client, symbol,
                                  await ex.buy_with_cost(client, symbol, Decimal(10), cid))
        assert order["clientOrderId"] == cid and order["status"] == "closed"
        assert Decimal(str(order["filled"])) > 0 and Decimal(str(order["cost"])) > 0
        found = await ex.find_order(client, symbol, cid)
        assert found is not None and found["id"] == order["id"]
        assert await ex.find_order(client, symbol, ex.client_order_id("pg-" + "0" * 32)) is None
        [at_sandbox] = await admin.orders()
        assert at_sandbox["clientOrderId"] == cid
    finally:
        await client.close()


async def test_key_errors_are_told_apart_from_the_exchange_s_bodies(
        exchange: str, venue: tuple[str, AsyncSandboxAdmin]) -> None:
    url, admin = venue
    ex = adapter(exchange)
    good, other = await admin.create_key(), await admin.create_key()
    gone = await admin.create_key()
    await admin.delete_key(gone["api_key"])
    for key, secret, problem in ((good, other["secret"], KeyProblem.WRONG_SECRET),
                                 (gone, None, KeyProblem.UNKNOWN_KEY)):
        client = await _client(exchange, url, None)
        client.apiKey, client.secret = key["api_key"], secret or key["secret"]
        try:
            with pytest.raises(Exception) as raised:
                await client.fetch_balance()
        finally:
            await client.close()
        assert ex.classify(raised.value).key_problem is problem, raised.value


async def test_key_access_says_whether_the_key_may_trade(
        exchange: str, venue: tuple[str, AsyncSandboxAdmin]) -> None:
    url, admin = venue
    ex = adapter(exchange)
    for can_trade in (True, False):
        key = await admin.create_key(balances={_quote(exchange): "100"}, can_trade=can_trade)
        client = await _client(exchange, url, key)
        try:
            access = await ex.key_access(client, await client.fetch_balance())
        finally:
            await client.close()
        assert access.can_trade is can_trade
    assert await admin.orders() == []  # kraken's probe is validate-only: nothing placed


async def test_insufficient_funds_is_its_own_category(
        exchange: str, venue: tuple[str, AsyncSandboxAdmin]) -> None:
    url, admin = venue
    ex = adapter(exchange)
    client = await _client(exchange, url, await admin.create_key(balances={_quote(exchange): "3"}))
    try:
        with pytest.raises(Exception) as raised:
            await ex.buy_with_cost(client, TEST_SYMBOLS[exchange], Decimal(50),
                                   ex.client_order_id(CANONICAL))
    finally:
        await client.close()
    assert ex.classify(raised.value).category is RejectCategory.INSUFFICIENT_FUNDS, raised.value
    assert not ex.is_ambiguous(raised.value)


async def test_a_lost_answer_is_resolved_by_lookup_with_exactly_one_order(
        exchange: str, venue: tuple[str, AsyncSandboxAdmin]) -> None:
    url, admin = venue
    ex = adapter(exchange)
    key = await admin.create_key(balances={_quote(exchange): "100"})
    # as the gateway's pool does: markets loaded once by a keyless instance, shared
    public = await _client(exchange, url, None)
    client = ex.make_client(ExchangeSettings(**{f"{exchange}_url": url}),
                            ApiKeyPair(key["api_key"], key["secret"]))
    client.set_markets_from_exchange(public)
    await admin.add_fault(ORDER_ENDPOINT[exchange], "lost_response", count=1, latency_ms=0)
    market = client.market(TEST_SYMBOLS[exchange])
    cid = ex.client_order_id(CANONICAL)
    try:
        result = await place_order(ex, client, market, "buy", Plan(True, cost=Decimal(10)), cid,
                                   lookup_delay=0.05)
    finally:
        await client.close()
        await public.close()
    assert result.outcome == "placed" and result.looked_up, result
    orders = await admin.orders()
    assert len(orders) == 1 and orders[0]["clientOrderId"] == cid
    assert str(result.order_id)  # the exchange's id, from the lookup
