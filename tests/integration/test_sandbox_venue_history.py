"""The sandbox's history calls against ccxt's recorded real answers
(``tests/fixtures/ccxt_static/responses.json``): binance ``allOrders``/``myTrades``, kraken
``ClosedOrders``, coinbase ``orders/historical/batch`` and ``orders/historical/fills``.

For each, an item the sandbox answers has every field of the recorded item, each of the same
JSON type, and unmodified ccxt's unified method parses it into every unified field it parsed
from the recorded answer. (The request shapes are replayed by ``test_sandbox_replay``; paging
is exercised through the adapters by ``test_exchange_contract``.)
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

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
