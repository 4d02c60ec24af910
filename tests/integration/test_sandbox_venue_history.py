"""The sandbox's history calls against ccxt's recorded real answers
(``tests/fixtures/ccxt_static/responses.json``): binance ``allOrders``/``myTrades``, kraken
``ClosedOrders``, coinbase ``orders/historical/batch`` and ``orders/historical/fills``.

For each, an item the sandbox answers has every field of the recorded item, each of the same
JSON type, and unmodified ccxt's unified method parses it into every unified field it parsed
from the recorded answer. (The request shapes are replayed by ``test_sandbox_replay``; paging
is exercised through the adapters by ``test_exchange_contract``.) The admin API's orders
"outside the product" refuse bad input naming the cause; lost answers are one key's.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import ccxt
import httpx
import pytest

from sandbox import AsyncSandboxAdmin, SandboxServer
from sandbox.testing import venue_exchange
from tests.support.ccxt_static import FIXTURES

pytestmark = pytest.mark.integration

RECORDED: dict[str, Any] = json.loads((FIXTURES / "responses.json").read_text())
# fields ccxt itself wrote into the recorded answers (not the exchange's): coinbase's
# fetchOrders/fetchMyTrades copy the page cursor into the first item; kraken adds the txid
ADDED_BY_CCXT = {"cursor", "id"}
PINNED = {"binance": ("BTCUSDT", "BTC/USDT", "USDT"), "kraken": ("XXBTZUSD", "BTC/USD", "USD"),
          "coinbase": ("BTC-USD", "BTC/USD", "USD")}
Raw = Callable[[Any], Awaitable[list[dict[str, Any]]]]


async def _binance_orders(ex: Any) -> list[dict[str, Any]]:
    return list(await ex.privateGetAllOrders({"symbol": "BTCUSDT"}))


async def _binance_trades(ex: Any) -> list[dict[str, Any]]:
    return list(await ex.privateGetMyTrades({"symbol": "BTCUSDT"}))


async def _kraken_closed(ex: Any) -> list[dict[str, Any]]:
    return list((await ex.privatePostClosedOrders({}))["result"]["closed"].values())


async def _coinbase_orders(ex: Any) -> list[dict[str, Any]]:
    return list((await ex.v3PrivateGetBrokerageOrdersHistoricalBatch({}))["orders"])


async def _coinbase_fills(ex: Any) -> list[dict[str, Any]]:
    return list((await ex.v3PrivateGetBrokerageOrdersHistoricalFills({}))["fills"])


CASES: list[tuple[str, str, Raw, str]] = [
    ("binance", "fetchOrders", _binance_orders, "fetch_orders"),
    ("binance", "fetchMyTrades", _binance_trades, "fetch_my_trades"),
    ("kraken", "fetchClosedOrders", _kraken_closed, "fetch_closed_orders"),
    ("coinbase", "fetchClosedOrders", _coinbase_orders, "fetch_closed_orders"),
    ("coinbase", "fetchMyTrades", _coinbase_fills, "fetch_my_trades"),
]


def _recorded_item(venue: str, method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    entry = RECORDED[venue][method][0]
    answer = entry["httpResponse"]
    if venue == "kraken":
        items = list(answer["result"]["closed"].values())
    elif venue == "coinbase":
        items = answer.get("orders") or answer.get("fills")
    else:
        items = answer
    return items[0], entry["parsedResponse"][0]


def _kind(value: Any) -> str:
    """A JSON value's kind; ccxt's fixtures store numbers as strings, so a numeric string
    and a number are one kind (amounts, ids and times alike)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return "text"
        return "number"
    return type(value).__name__


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(port=0, seed=1) as sb:
        yield sb


@pytest.mark.parametrize(("venue", "method", "raw", "unified"), CASES,
                         ids=[f"{v}-{m}" for v, m, _, _ in CASES])
async def test_history_items_have_the_recorded_fields_and_parse_alike(
        sandbox: SandboxServer, venue: str, method: str, raw: Raw, unified: str) -> None:
    symbol_id, symbol, quote = PINNED[venue]
    admin = AsyncSandboxAdmin(sandbox.url, venue=venue)
    await admin.set_price(symbol_id, "50000")
    key = await admin.create_key(balances={quote: "100"})
    recorded, recorded_parsed = _recorded_item(venue, method)
    cid = recorded_parsed.get("clientOrderId") or "hist-1"  # one like the recorded one
    await admin.external_order(key["api_key"], symbol_id, "BUY", quote_qty="20",
                               client_order_id=cid)
    ex = venue_exchange(venue, sandbox.url, key)
    try:
        await ex.load_markets()
        [item] = await raw(ex)
        [parsed] = await getattr(ex, unified)(symbol)
    finally:
        await ex.close()
    missing = set(recorded) - set(item) - ADDED_BY_CCXT
    assert missing == set(), f"{venue} {method} lacks {sorted(missing)}"
    kinds = {k: (_kind(v), _kind(item[k])) for k, v in recorded.items()
             if k in item and v is not None and item[k] is not None}
    assert {k: v for k, v in kinds.items() if v[0] != v[1]} == {}
    unparsed = [k for k, v in recorded_parsed.items()
                if v not in (None, [], {}) and parsed.get(k) in (None, [], {})]
    assert unparsed == [], f"ccxt parsed {unparsed} from the recorded answer, not from ours"


@pytest.mark.parametrize("venue", ["binance", "kraken", "coinbase"])
async def test_outside_orders_refuse_bad_input_with_the_cause(sandbox: SandboxServer,
                                                             venue: str) -> None:
    symbol_id, _, quote = PINNED[venue]
    admin = AsyncSandboxAdmin(sandbox.url, venue=venue)
    await admin.set_price(symbol_id, "50000")
    key = await admin.create_key(balances={quote: "10"})
    bad = [({"api_key": "nobody", "symbol": symbol_id, "side": "BUY", "quote_qty": "5"},
            "api_key must name an existing key"),
           ({"api_key": key["api_key"], "symbol": "NOPE", "side": "BUY", "quote_qty": "5"},
            "unknown symbol 'NOPE'"),
           ({"api_key": key["api_key"], "symbol": symbol_id, "side": "HOLD", "qty": "1"},
            "side must be BUY or SELL"),
           ({"api_key": key["api_key"], "symbol": symbol_id, "side": "BUY", "qty": "0.001",
             "quote_qty": "5"}, "exactly one of quote_qty and qty"),
           ({"api_key": key["api_key"], "symbol": symbol_id, "side": "BUY", "quote_qty": "-1"},
            "quote_qty must be > 0"),
           ({"api_key": key["api_key"], "symbol": symbol_id, "side": "BUY", "quote_qty": "500"},
            "refused by the venue")]
    async with httpx.AsyncClient(base_url=f"{sandbox.url}/{venue}") as http:
        for body, cause in bad:
            answer = await http.post("/admin/orders", json=body)
            assert answer.status_code == 400 and cause in answer.json()["error"], answer.text
        refused = await http.post("/admin/drop_answers", json={"api_key": key["api_key"],
                                                               "count": 0})
    assert refused.status_code == 400 and "count must be >= 1" in refused.json()["error"]
    assert await admin.orders() == []


async def test_dropped_answers_are_one_key_s_and_its_orders_are_placed(
        sandbox: SandboxServer) -> None:
    admin = AsyncSandboxAdmin(sandbox.url, venue="kraken")
    await admin.set_price("XXBTZUSD", "50000")
    mine = await admin.create_key(balances={"USD": "100"})
    other = await admin.create_key(balances={"USD": "100"})
    rule = await admin.drop_answers(mine["api_key"], 1, hold_ms=0)
    assert (rule["kind"], rule["endpoint"], rule["api_key"]) == (
        "lost_response", "POST /0/private/AddOrder", mine["api_key"])
    for key, answered in ((other, True), (mine, False), (mine, True)):
        ex = venue_exchange("kraken", sandbox.url, key)
        try:
            if answered:
                assert (await ex.create_market_buy_order_with_cost("BTC/USD", 10))["id"]
            else:
                with pytest.raises(ccxt.NetworkError):
                    await ex.create_market_buy_order_with_cost("BTC/USD", 10)
        finally:
            await ex.close()
    placed = await admin.orders()
    assert [o["api_key"] for o in placed] == [other["api_key"], mine["api_key"], mine["api_key"]]
    assert all(o["status"] == "FILLED" for o in placed)


async def test_binance_history_selection_rules(sandbox: SandboxServer) -> None:
    admin = AsyncSandboxAdmin(sandbox.url, venue="binance")
    await admin.set_price("BTCUSDT", "50000")
    key = await admin.create_key(balances={"USDT": "1000"})
    for _ in range(5):
        await admin.external_order(key["api_key"], "BTCUSDT", "BUY", quote_qty="10")
    first = (await admin.orders())[0]
    ex = venue_exchange("binance", sandbox.url, key)
    try:
        async def ids(**params: Any) -> list[int]:
            got = await ex.privateGetAllOrders({"symbol": "BTCUSDT", "limit": 2, **params})
            return [int(o["orderId"]) for o in got]
        assert await ids() == [1003, 1004]  # the most recent
        assert await ids(orderId=1001) == [1001, 1002]  # from that id on
        assert await ids(startTime=first["time"]) == [1000, 1001]  # the oldest in the window
        with pytest.raises(ccxt.BadRequest, match="-1127"):
            await ids(startTime=first["time"], endTime=first["time"] + 86_400_001)
        with pytest.raises(ccxt.BadRequest, match="-1106"):
            await ex.privateGetMyTrades({"symbol": "BTCUSDT", "fromId": 1,
                                         "startTime": first["time"]})
    finally:
        await ex.close()


async def test_kraken_history_pages_of_fifty_newest_first_with_a_count(
        sandbox: SandboxServer) -> None:
    admin = AsyncSandboxAdmin(sandbox.url, venue="kraken")
    await admin.set_price("XXBTZUSD", "50000")
    key = await admin.create_key(balances={"USD": "2000"})
    for _ in range(60):
        await admin.external_order(key["api_key"], "XXBTZUSD", "BUY", quote_qty="10")
    txids = [o["venue_order_id"] for o in await admin.orders()]
    ex = venue_exchange("kraken", sandbox.url, key)
    try:
        first = (await ex.privatePostClosedOrders({}))["result"]
        second = (await ex.privatePostClosedOrders({"ofs": 50}))["result"]
        after = (await ex.privatePostClosedOrders({"start": txids[49]}))["result"]
        trades = (await ex.privatePostTradesHistory({"ofs": 50}))["result"]
    finally:
        await ex.close()
    assert (first["count"], list(first["closed"])) == (60, txids[::-1][:50])
    assert list(second["closed"]) == txids[::-1][50:]
    assert sorted(after["closed"]) == txids[50:]  # start is exclusive
    assert trades["count"] == 60 and len(trades["trades"]) == 10
    assert {t["ordertxid"] for t in trades["trades"].values()} == set(txids[:10])
