"""The binance dialect: Binance spot REST (``/api/v3/*``, ``GET /sapi/v1/system/status``).

Serves the ``binanceus`` venue (also at the root paths) and the ``binance`` (binance.com)
venue; the two differ only in their markets. Public routes take plain query params; SIGNED
routes go through ``KeyStore.authenticate`` with the raw query string
(``request.rel_url.raw_query_string``) and raw body, exactly as they came over the wire.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from sandbox import errors
from sandbox.auth import ApiKey
from sandbox.orders import Order, fmt
from sandbox.routing import state_of
from sandbox.state import SandboxState

routes = web.RouteTableDef()
DAY_MS = 86_400_000
_UNKNOWN = (-1000, "An unknown error occured while processing the request.")
_RATE_LIMITED = (-1003, "Too many requests; current limit of IP(127.0.0.1) is 1200 requests per "
                 "minute. Please use the websocket for live updates to avoid polling the API.")
_INTERNAL = (-1001, "Internal error; unable to process your request. Please try again.")
_state = state_of


def _error(status: int, code: int, msg: str) -> web.Response:
    """Binance's error body (``errors.BinanceError``) with ``status``."""
    return web.json_response(errors.BinanceError(status, code, msg).body(), status=status)


def bug_response() -> web.Response:
    return _error(500, *_UNKNOWN)


def rate_limited(status: int) -> web.Response:
    return _error(status, *_RATE_LIMITED)


def too_many(status: int, code: str, msg: str, retry_after_s: int | None) -> web.Response:
    """Binance's 429 (or 418, an IP ban) with ``Retry-After`` in seconds."""
    response = _error(status, int(code or -1003), msg)
    if retry_after_s is not None:
        response.headers["Retry-After"] = str(retry_after_s)
    return response


def server_error(status: int) -> web.Response:
    return _error(status, *_INTERNAL)


def _ok(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")),
                        content_type="application/json")


async def _signed(request: web.Request, *, trade: bool = False) -> tuple[ApiKey, dict[str, str]]:
    body = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
    st = _state(request)
    return st.keys.authenticate(request.headers.get("X-MBX-APIKEY"),
                                request.rel_url.raw_query_string, body, st.clock(),
                                need_trade=trade)


def _symbols(request: web.Request) -> list[str] | None:
    """The ``symbol`` / ``symbols=["A","B"]`` selection, or ``None`` for every market."""
    markets = _state(request).fixture.markets
    if "symbol" in request.query:
        chosen = [request.query["symbol"]]
    elif "symbols" in request.query:
        try:
            chosen = json.loads(request.query["symbols"])
        except ValueError:
            raise errors.illegal_chars("symbols") from None
        if not isinstance(chosen, list) or not all(isinstance(s, str) for s in chosen):
            raise errors.illegal_chars("symbols")
    else:
        return None
    if any(s not in markets for s in chosen):
        raise errors.invalid_symbol()
    return chosen


def _one_or_many(request: web.Request, render: Any) -> web.Response:
    chosen = _symbols(request)
    if chosen is not None and "symbol" in request.query:
        return _ok(render(chosen[0]))
    return _ok([render(s) for s in (chosen or list(_state(request).fixture.markets))])


# public -------------------------------------------------------------------------------------
@routes.get("/api/v3/ping")
async def ping(request: web.Request) -> web.Response:
    return _ok({})


@routes.get("/api/v3/time")
async def server_time(request: web.Request) -> web.Response:
    return _ok({"serverTime": _state(request).clock()})


@routes.get("/sapi/v1/system/status")
async def system_status(request: web.Request) -> web.Response:
    return _ok({"status": 0, "msg": "normal"})


@routes.get("/api/v3/exchangeInfo")
async def exchange_info(request: web.Request) -> web.Response:
    st = _state(request)
    chosen = _symbols(request) or list(st.fixture.markets)
    return _ok({
        "timezone": "UTC", "serverTime": st.clock(),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000}],
        "exchangeFilters": [],
        "symbols": [st.fixture.markets[s].info for s in chosen]})


def _ticker_24hr(st: SandboxState, symbol: str) -> dict[str, Any]:
    price, q = st.quote(symbol), st.feed.quotes[symbol]
    tick, now = st.fixture.markets[symbol].tick, st.clock()
    change = price - q.open
    return {"symbol": symbol, "priceChange": fmt(change),
            "priceChangePercent": f"{(change / q.open * 100).quantize(Decimal('0.001')):f}",
            "weightedAvgPrice": fmt(q.quote_volume / q.volume if q.volume else price),
            "prevClosePrice": fmt(q.open), "lastPrice": fmt(price), "lastQty": fmt(Decimal(0)),
            "bidPrice": fmt(price - tick), "bidQty": "1.00000000",
            "askPrice": fmt(price + tick), "askQty": "1.00000000", "openPrice": fmt(q.open),
            "highPrice": fmt(q.high), "lowPrice": fmt(q.low), "volume": fmt(q.volume),
            "quoteVolume": fmt(q.quote_volume), "openTime": now - DAY_MS, "closeTime": now,
            "firstId": 0 if q.trades else -1, "lastId": q.trades - 1 if q.trades else -1,
            "count": q.trades}


@routes.get("/api/v3/ticker/24hr")
async def ticker_24hr(request: web.Request) -> web.Response:
    st = _state(request)
    return _one_or_many(request, lambda s: _ticker_24hr(st, s))


@routes.get("/api/v3/ticker/price")
async def ticker_price(request: web.Request) -> web.Response:
    st = _state(request)
    return _one_or_many(request, lambda s: {"symbol": s, "price": fmt(st.quote(s))})


@routes.get("/api/v3/ticker/bookTicker")
async def book_ticker(request: web.Request) -> web.Response:
    st = _state(request)

    def render(s: str) -> dict[str, str]:
        price, tick = st.quote(s), st.fixture.markets[s].tick
        return {"symbol": s, "bidPrice": fmt(price - tick), "bidQty": "1.00000000",
                "askPrice": fmt(price + tick), "askQty": "1.00000000"}
    return _one_or_many(request, render)


@routes.get("/api/v3/depth")
async def depth(request: web.Request) -> web.Response:
    """A synthetic book: ``limit`` levels (max 100) one tick apart around the current price."""
    st = _state(request)
    symbol = request.query.get("symbol", "")
    if not symbol:
        raise errors.mandatory("symbol")
    if symbol not in st.fixture.markets:
        raise errors.invalid_symbol()
    limit = request.query.get("limit", "100")
    levels = min(int(limit), 100) if limit.isdigit() and int(limit) > 0 else 100
    price, spec = st.quote(symbol), st.fixture.markets[symbol]
    size = [fmt(spec.step * 1000 * (i + 1)) for i in range(levels)]
    return _ok({"lastUpdateId": st.clock(),
                "bids": [[fmt(price - spec.tick * (i + 1)), size[i]] for i in range(levels)],
                "asks": [[fmt(price + spec.tick * (i + 1)), size[i]] for i in range(levels)]})


# signed -------------------------------------------------------------------------------------
@routes.get("/api/v3/account")
async def account(request: web.Request) -> web.Response:
    key, _ = await _signed(request)
    acct = _state(request).engine.accounts[key.account_id]
    return _ok({"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
                "sellerCommission": 0,
                "commissionRates": {"maker": "0.00100000", "taker": "0.00100000",
                                    "buyer": "0.00000000", "seller": "0.00000000"},
                "canTrade": key.can_trade, "canWithdraw": key.can_withdraw, "canDeposit": True,
                "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
                "updateTime": acct.update_time, "accountType": "SPOT",
                "balances": acct.balances(), "permissions": ["SPOT"],
                "uid": acct.account_id})


def _render(order: Order, resp_type: str) -> dict[str, Any]:
    return {"ACK": order.ack, "RESULT": order.result}.get(resp_type, order.full)()


@routes.post("/api/v3/order")
async def new_order(request: web.Request) -> web.Response:
    """``POST /api/v3/order``; a refusal before the core (the key, the signature, the clock) is
    in the admin rejections list too."""
    try:
        return await _new_order(request)
    except errors.BinanceError as exc:
        if not exc.recorded:
            body = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
            params = dict(parse_qsl(request.rel_url.raw_query_string or body,
                                    keep_blank_values=True))
            params.pop("signature", None)
            _state(request).engine.reject(request.headers.get("X-MBX-APIKEY", ""), params,
                                          exc.code, exc.msg)
        raise


async def _new_order(request: web.Request) -> web.Response:
    key, params = await _signed(request, trade=True)
    order = _state(request).engine.place(key, params)
    default = "FULL" if order.type in ("MARKET", "LIMIT") else "ACK"
    return _ok(_render(order, params.get("newOrderRespType") or default))


@routes.get("/api/v3/order")
async def query_order(request: web.Request) -> web.Response:
    key, params = await _signed(request)
    return _ok(_state(request).engine.find(key.account_id, params, errors.no_such_order()).query())


@routes.delete("/api/v3/order")
async def cancel_order(request: web.Request) -> web.Response:
    key, params = await _signed(request, trade=True)
    return _ok(_state(request).engine.cancel(key.account_id, params))


def _symbol_param(st: SandboxState, params: dict[str, str], required: bool) -> str | None:
    symbol = params.get("symbol") or None
    if symbol is None and required:
        raise errors.mandatory("symbol")
    if symbol is not None and symbol not in st.fixture.markets:
        raise errors.invalid_symbol()
    return symbol


@routes.get("/api/v3/openOrders")
async def open_orders(request: web.Request) -> web.Response:
    key, params = await _signed(request)
    st = _state(request)
    symbol = _symbol_param(st, params, required=False)
    return _ok([o.query() for o in st.engine.open_orders(key.account_id, symbol)])


@routes.delete("/api/v3/openOrders")
async def cancel_open_orders(request: web.Request) -> web.Response:
    key, params = await _signed(request, trade=True)
    st = _state(request)
    symbol = _symbol_param(st, params, required=True)
    assert symbol is not None
    return _ok(st.engine.cancel_all(key.account_id, symbol))


def _limit(params: dict[str, str], default: int = 500) -> int:
    raw = params.get("limit") or str(default)
    return max(1, min(int(raw), 1000)) if raw.isdigit() else default


def _window(items: list[dict[str, Any]], params: dict[str, str], id_field: str,
            id_param: str) -> list[dict[str, Any]]:
    """Binance's history selection over ``items`` (ascending): ``id_param`` → the first
    ``limit`` at or after that id; ``startTime`` (with or without ``endTime``) → the oldest
    ``limit`` in the window; ``endTime`` alone or nothing → the most recent ``limit``. A window
    longer than 24 hours is refused (-1127), and ``fromId`` with a time is refused (-1106)."""
    start, end = params.get("startTime", ""), params.get("endTime", "")
    from_id = params.get(id_param, "")
    if id_param == "fromId" and from_id and (start or end):
        raise errors.not_required("fromId")
    if start.isdigit() and end.isdigit() and int(end) - int(start) > DAY_MS:
        raise errors.BinanceError(400, -1127, "More than 24 hours between startTime and endTime.")
    items = [i for i in items
             if (not start.isdigit() or i["time"] >= int(start))
             and (not end.isdigit() or i["time"] <= int(end))
             and (not from_id.isdigit() or i[id_field] >= int(from_id))]
    oldest_first = bool(from_id) or start.isdigit()
    return items[:_limit(params)] if oldest_first else items[-_limit(params):]


@routes.get("/api/v3/allOrders")
async def all_orders(request: web.Request) -> web.Response:
    key, params = await _signed(request)
    st = _state(request)
    symbol = _symbol_param(st, params, required=True)
    assert symbol is not None
    items = [o.query() for o in st.engine.account_orders(key.account_id, symbol)]
    return _ok(_window(items, params, "orderId", "orderId"))


@routes.get("/api/v3/myTrades")
async def my_trades(request: web.Request) -> web.Response:
    key, params = await _signed(request)
    st = _state(request)
    symbol = _symbol_param(st, params, required=True)
    assert symbol is not None
    orders = st.engine.account_orders(key.account_id, symbol)
    if params.get("orderId", "").isdigit():
        orders = [o for o in orders if o.order_id == int(params["orderId"])]
    trades = sorted((t for o in orders for t in o.trades()), key=lambda t: t["id"])
    return _ok(_window(trades, params, "id", "fromId"))
