"""Replay the request shapes ccxt recorded against the real kraken, coinbase and binance
(``tests/fixtures/ccxt_static/requests.json``) against the sandbox and check each is accepted.

Each recorded request is re-sent through unmodified ccxt's own request builder
(``exchange.request(path, api, method, params)``: the same path, parameter names and body
encoding as recorded, freshly signed), with the market ids the sandbox does not list replaced
by ones it does and the values in the recording's ``skipKeys`` (nonce, client order id,
timestamp, signature) left to ccxt. A request naming an order id from the recording is
answered with that venue's "unknown order" error, which proves it was parsed and looked up.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import ccxt
import pytest

from sandbox import AsyncSandboxAdmin, SandboxServer
from sandbox.testing import venue_exchange
from tests.support.ccxt_static import recorded_requests

pytestmark = pytest.mark.integration

# recorded market id -> a sandbox market id with the same quote currency
SUBSTITUTE = {"kraken": {"LTCUSDT": "XBTUSDT", "XLTCZUSD": "XXBTZUSD"},
              "coinbase": {"ADA-USDT": "BTC-USD", "BTC-USDT": "BTC-USD", "DOGE-USDT": "BTC-USD",
                           "XRP-USDC": "BTC-USDC"},
              "binance": {}}
# values too large for BTC at the pinned prices (coinbase sells 10 ADA; kraken sells 0.1 LTC)
SIZES = {"coinbase": {"10": "0.0001"}, "kraken": {"0.1": "0.001"}, "binance": {}}
PRICES = {"kraken": {"XXBTZUSD": "20000", "XBTUSDT": "20000"},
          "coinbase": {"BTC-USD": "20000", "BTC-USDC": "20000"},
          "binance": {"BTCUSDT": "20000", "LTCUSDT": "80"}}
FUNDS = {"kraken": {"USD": "1000", "USDT": "1000", "BTC": "1"},
         "coinbase": {"USD": "1000", "USDC": "1000", "BTC": "1"},
         "binance": {"USDT": "1000", "BTC": "1", "LTC": "1"}}
UNKNOWN_ORDER = {"kraken": "EOrder:Unknown order", "coinbase": "NOT_FOUND",
                 "binance": "-201"}  # binance: -2011 (cancel) / -2013 (query)


def _entries(exchange: str) -> list[Any]:
    rec = recorded_requests(exchange)
    return [pytest.param(exchange, e, rec["skipKeys"],
                         id=f"{exchange}-{e['method']}-{i}")
            for i, e in enumerate(rec["entries"])]


def _endpoint(exchange: str, method: str, path: str) -> tuple[str, Any]:
    """ccxt's (path, api) for a recorded URL path."""
    if exchange == "kraken":
        _, _, api, name = path.split("/", 3)
        return name, [api]
    if exchange == "binance":
        name = path.removeprefix("/api/v3/")
        public = name.startswith(("ticker", "exchangeInfo", "depth"))
        return name, ["public" if public else "private"]
    version = "v2" if path.startswith("/v2/") else "v3"
    name = path.removeprefix("/v2/").removeprefix("/api/v3/")
    public = "/market/" in path
    return name, [version, "public" if public else "private"]


def _params(exchange: str, entry: dict[str, Any], skip: list[str]) -> dict[str, Any]:
    url = urlsplit(entry["url"])
    params: dict[str, Any] = dict(parse_qsl(url.query))
    body = entry.get("output") or ""
    if exchange == "coinbase" and body:
        params |= json.loads(body)
    elif body:
        params |= dict(parse_qsl(body))
    params = {k: v for k, v in params.items() if k not in skip}
    text = json.dumps(params)
    for old, new in SUBSTITUTE[exchange].items():
        text = text.replace(f'"{old}"', f'"{new}"')
    for old, new in SIZES[exchange].items():
        text = text.replace(f'"{old}"', f'"{new}"')
    params = json.loads(text)
    if exchange == "coinbase" and entry["http_method"] == "POST" and "product_id" in params:
        params["client_order_id"] = f"replay-{entry['method']}-{len(text)}"
    return params


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(port=0, seed=3) as sb:
        yield sb


@pytest.mark.parametrize(("exchange", "entry", "skip"),
                         _entries("kraken") + _entries("coinbase") + _entries("binance"))
async def test_recorded_request_is_accepted(sandbox: SandboxServer, exchange: str,
                                            entry: dict[str, Any], skip: list[str]) -> None:
    admin = AsyncSandboxAdmin(sandbox.url, venue=exchange)
    for symbol, price in PRICES[exchange].items():
        await admin.set_price(symbol, price)
    ex = venue_exchange(exchange, sandbox.url, await admin.create_key(balances=FUNDS[exchange]))
    path = urlsplit(entry["url"]).path
    for old, new in SUBSTITUTE[exchange].items():
        path = path.replace(f"/{old}/", f"/{new}/")
    name, api = _endpoint(exchange, entry["http_method"], path)
    params = _params(exchange, entry, skip)
    names_an_order = any(k in params for k in ("txid", "orderId")) or (
        "/historical/" in path and not path.endswith("/batch"))
    try:
        if "order_ids" in params:  # coinbase batch_cancel: HTTP 200, a result per id
            answer = await ex.request(name, api, entry["http_method"], params)
            assert [r["failure_reason"] for r in answer["results"]] == ["UNKNOWN_CANCEL_ORDER"]
            return
        if names_an_order:
            with pytest.raises(ccxt.ExchangeError, match=UNKNOWN_ORDER[exchange]):
                await ex.request(name, api, entry["http_method"], params)
            return
        answer = await ex.request(name, api, entry["http_method"], params)
    finally:
        await ex.close()
    if exchange == "kraken":
        assert answer["error"] == [] and answer["result"] is not None
    elif exchange == "coinbase" and "success" in answer:
        assert answer["success"] is True, answer
    assert answer is not None
    placed = await admin.orders()
    assert len(placed) == (1 if entry["method"].startswith("create") else 0), placed
