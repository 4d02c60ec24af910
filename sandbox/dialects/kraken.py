"""The kraken dialect: Kraken spot REST as ccxt ``kraken`` calls it.

Public ``GET /0/public/{Time,SystemStatus,Assets,AssetPairs,Ticker}``; private
``POST /0/private/{Balance,BalanceEx,AddOrder,QueryOrders,OpenOrders,CancelOrder}`` with form
bodies (``ClosedOrders`` and ``TradesHistory``: ``sandbox.dialects.kraken_history``).
Every answer is ``{"error": [...], "result": ...}``; errors are HTTP 200 with
Kraken's own strings (``EAPI:Invalid key``, ``EAPI:Invalid signature``, ``EAPI:Invalid nonce``,
``EGeneral:Permission denied``, ``EOrder:Insufficient funds``, ``EOrder:Order minimum not met``,
``EQuery:Unknown asset pair``, ``EAPI:Rate limit exceeded``).

Authentication (checked in this order): ``API-Key`` names a live key (``EAPI:Invalid key``);
``API-Sign`` is base64(HMAC-SHA512(base64decode(secret), path + SHA256(nonce + body)))
over the path without the venue prefix (``EAPI:Invalid signature``); ``nonce`` is an integer
greater than the last one accepted for the key (``EAPI:Invalid nonce``); trading calls need a
key with trade permission (``EGeneral:Permission denied``).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from decimal import Decimal, InvalidOperation
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from sandbox import errors
from sandbox.auth import ApiKey
from sandbox.dialects.ids import from_kraken_txid, kraken_trade_txid, kraken_txid
from sandbox.dialects.kraken_markets import ASSETS, COMMON, KRAKEN, PAIRS
from sandbox.market import MarketSpec
from sandbox.orders import Q8, Order
from sandbox.routing import state_of, venue_path
from sandbox.rules import OrderRequest, market_request
from sandbox.state import SandboxState

routes = web.RouteTableDef()
TRADE_CALLS = frozenset({"AddOrder", "CancelOrder"})


class KrakenError(errors.WireError):
    """``{"error": [message], "result": {}}`` with HTTP 200, as Kraken answers errors."""

    def __init__(self, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.message, self.status = message, status

    def body(self) -> dict[str, Any]:
        return {"error": [self.message]}


def ok(result: Any) -> web.Response:
    return web.Response(text=json.dumps({"error": [], "result": result}, separators=(",", ":")),
                        content_type="application/json")


def bug_response() -> web.Response:
    return web.json_response({"error": ["EGeneral:Internal error"]}, status=500)


def rate_limited(status: int) -> web.Response:
    return web.json_response({"error": ["EAPI:Rate limit exceeded"]}, status=status)


def too_many(status: int, code: str, msg: str, retry_after_s: int | None) -> web.Response:
    """``EAPI:Rate limit exceeded`` (the call counter) or ``EOrder:Rate limit exceeded``
    (the trading counter), in Kraken's error list; no ``Retry-After``."""
    return web.json_response({"error": [code or "EAPI:Rate limit exceeded"]}, status=status)


def server_error(status: int) -> web.Response:
    return web.json_response({"error": ["EService:Unavailable"]}, status=status)


# authentication (pure) ----------------------------------------------------------------------
def sign(path: str, nonce: str, body: str, secret_b64: str) -> str:
    """Kraken's ``API-Sign`` for ``body`` (the raw form body, which includes the nonce)."""
    digest = hashlib.sha256((nonce + body).encode()).digest()
    mac = hmac.new(base64.b64decode(secret_b64), path.encode() + digest, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def authenticate(keys: dict[str, ApiKey], header_key: str | None, header_sign: str | None,
                 path: str, body: str, *, need_trade: bool) -> tuple[ApiKey, dict[str, str]]:
    """The key and form params of a private call, or the ``KrakenError`` Kraken answers."""
    key = keys.get(header_key or "")
    if key is None or key.revoked:
        raise KrakenError("EAPI:Invalid key")
    params = dict(parse_qsl(body, keep_blank_values=True))
    nonce = params.get("nonce", "")
    try:
        valid = bool(header_sign) and hmac.compare_digest(
            sign(path, nonce, body, key.secret), header_sign or "")
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise KrakenError("EAPI:Invalid signature")
    if not nonce.isdigit() or int(nonce) <= key.nonce:
        raise KrakenError("EAPI:Invalid nonce")
    key.nonce = int(nonce)
    if need_trade and not key.can_trade:
        raise KrakenError("EGeneral:Permission denied")
    return key, params


async def private(request: web.Request, call: str) -> tuple[ApiKey, dict[str, str]]:
    body = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
    return authenticate(state_of(request).keys.keys, request.headers.get("API-Key"),
                        request.headers.get("API-Sign"), venue_path(request), body,
                        need_trade=call in TRADE_CALLS)


# public -------------------------------------------------------------------------------------
def _pair_id(name: str) -> str:
    """``XXBTZUSD`` or its altname ``XBTUSD`` -> ``XXBTZUSD``."""
    if name in PAIRS:
        return name
    for pid, pair in PAIRS.items():
        if name == pair["altname"]:
            return pid
    raise KrakenError("EQuery:Unknown asset pair")


def _pairs(raw: str | None) -> list[str]:
    return [_pair_id(p) for p in raw.split(",")] if raw else list(PAIRS)


@routes.get("/0/public/Time")
async def server_time(request: web.Request) -> web.Response:
    now = state_of(request).clock() // 1000
    return ok({"unixtime": now, "rfc1123": formatdate(now, usegmt=True)})


@routes.get("/0/public/SystemStatus")
async def system_status(request: web.Request) -> web.Response:
    return ok({"status": "online", "timestamp": "2024-01-01T00:00:00Z"})


@routes.get("/0/public/Assets")
async def assets(request: web.Request) -> web.Response:
    chosen = request.query.get("asset")
    names = chosen.split(",") if chosen else list(ASSETS)
    if any(n not in ASSETS for n in names):
        raise KrakenError("EQuery:Unknown asset")
    return ok({n: ASSETS[n] for n in names})


@routes.get("/0/public/AssetPairs")
async def asset_pairs(request: web.Request) -> web.Response:
    return ok({p: PAIRS[p] for p in _pairs(request.query.get("pair"))})


def _ticker(st: SandboxState, pair_id: str) -> dict[str, Any]:
    price, q = st.quote(pair_id), st.feed.quotes[pair_id]
    spec = st.fixture.markets[pair_id]
    dp = spec.quote_precision

    def f(v: Decimal) -> str:
        return f"{v:.{dp}f}"
    vwap = q.quote_volume / q.volume if q.volume else price
    return {"a": [f(price + spec.tick), "1", "1.000"], "b": [f(price - spec.tick), "1", "1.000"],
            "c": [f(price), "0.00000000"], "v": [f"{q.volume:.8f}", f"{q.volume:.8f}"],
            "p": [f(vwap), f(vwap)], "t": [q.trades, q.trades], "l": [f(q.low), f(q.low)],
            "h": [f(q.high), f(q.high)], "o": f(q.open)}


@routes.get("/0/public/Ticker")
async def ticker(request: web.Request) -> web.Response:
    st = state_of(request)
    return ok({p: _ticker(st, p) for p in _pairs(request.query.get("pair"))})


# balances -----------------------------------------------------------------------------------
def _balances(st: SandboxState, key: ApiKey) -> dict[str, tuple[Decimal, Decimal]]:
    acct = st.engine.accounts[key.account_id]
    return {KRAKEN.get(a, a): (acct.available(a) + acct.locked.get(a, Decimal(0)),
                               acct.locked.get(a, Decimal(0)))
            for a in sorted(set(acct.free) | set(acct.locked))}


@routes.post("/0/private/Balance")
async def balance(request: web.Request) -> web.Response:
    key, _ = await private(request, "Balance")
    return ok({a: f"{total:.8f}" for a, (total, _) in _balances(state_of(request), key).items()})


@routes.post("/0/private/BalanceEx")
async def balance_ex(request: web.Request) -> web.Response:
    key, _ = await private(request, "BalanceEx")
    return ok({a: {"balance": f"{total:.8f}", "hold_trade": f"{held:.8f}",
                    "credit": "0.0000", "credit_used": "0.0000"}
                for a, (total, held) in _balances(state_of(request), key).items()})


# orders -------------------------------------------------------------------------------------
def _decimal(params: dict[str, str], name: str, places: int) -> Decimal:
    try:
        value = Decimal(params.get(name, ""))
    except InvalidOperation:
        raise KrakenError(f"EGeneral:Invalid arguments:{name}") from None
    if not value.is_finite() or value <= 0 or -value.as_tuple().exponent > places:  # type: ignore[operator]
        raise KrakenError(f"EGeneral:Invalid arguments:{name}")
    return value


def translate(exc: errors.BinanceError) -> KrakenError:
    """The core's refusal (by its ``reason``) as Kraken words it."""
    return KrakenError({
        "insufficient_funds": "EOrder:Insufficient funds",
        "duplicate_client_order_id": "EOrder:Duplicate order",
        "below_minimum": "EOrder:Order minimum not met",
        "unknown_symbol": "EQuery:Unknown asset pair",
        "unknown_order": "EOrder:Unknown order",
    }.get(exc.reason, "EGeneral:Invalid arguments:volume"))


def _order_request(params: dict[str, str], spec: MarketSpec, price: Decimal,
                   fee_rate: Decimal, cid: str | None) -> tuple[OrderRequest, list[str]]:
    side = params.get("type", "")
    if side not in ("buy", "sell"):
        raise KrakenError("EGeneral:Invalid arguments:type")
    if params.get("ordertype") != "market":
        raise KrakenError("EGeneral:Invalid arguments:ordertype")
    flags = [f for f in params.get("oflags", "").split(",") if f]
    if "viqc" in flags:
        if side != "buy":
            raise KrakenError("EGeneral:Invalid arguments:viqc")
        quote = _decimal(params, "volume", spec.quote_precision)
        req = market_request(spec, "BUY", price, quote=quote, client_order_id=cid,
                             quote_fee_rate=fee_rate)
    else:
        qty = _decimal(params, "volume", spec.base_precision)
        req = market_request(spec, side.upper(), price, qty=qty, client_order_id=cid)
    return req, flags


@routes.post("/0/private/AddOrder")
async def add_order(request: web.Request) -> web.Response:
    """``AddOrder``; every refusal, from the key check on, is in the admin rejections list."""
    try:
        return await _add_order(request)
    except KrakenError as exc:
        if not exc.recorded:
            raw = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
            state_of(request).engine.reject(request.headers.get("API-Key", ""),
                                            dict(parse_qsl(raw, keep_blank_values=True)),
                                            exc.message, exc.message)
        raise


async def _add_order(request: web.Request) -> web.Response:
    key, params = await private(request, "AddOrder")
    st = state_of(request)
    pair_id = _pair_id(params.get("pair", ""))
    spec, price = st.fixture.markets[pair_id], st.feed.price(pair_id)
    cid = params.get("cl_ord_id") or None
    userref = params.get("userref", "")
    if userref and not userref.lstrip("-").isdigit():
        raise KrakenError("EGeneral:Invalid arguments:userref")
    try:
        req, flags = _order_request(params, spec, price, st.venue.fee_rate, cid)
        if params.get("validate") in ("true", "1"):
            return ok({"descr": {"order": _descr(params, spec)}})
        order = st.engine.place_request(key, req, params, unique_cid=False, record=False)
    except errors.BinanceError as exc:
        raise translate(exc) from None
    order.extra.update(cl_ord_id=cid, userref=int(userref) if userref else None,
                       oflags=",".join([*flags, "fciq"]), descr=_descr(params, spec))
    return ok({"descr": {"order": order.extra["descr"]}, "txid": [kraken_txid(order.order_id)]})


def _descr(params: dict[str, str], spec: MarketSpec) -> str:
    return f"{params['type']} {params['volume']} {spec.info['altname']} @ market"


def _status(order: Order) -> str:
    return {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "closed",
            "CANCELED": "canceled", "EXPIRED": "expired"}.get(order.status, "closed")


def render(order: Order, spec: MarketSpec, trades: bool) -> dict[str, Any]:
    """A ``QueryOrders`` / ``OpenOrders`` / ``ClosedOrders`` item."""
    dp = spec.quote_precision
    avg = order.cum_quote / order.executed_qty if order.executed_qty else Decimal(0)
    fee = sum((f.commission for f in order.fills), Decimal(0))
    out: dict[str, Any] = {
        "refid": None, "userref": order.extra.get("userref"), "status": _status(order),
        "opentm": order.time / 1000, "starttm": 0, "expiretm": 0,
        "descr": {"pair": spec.info["altname"], "type": order.side.lower(),
                  "ordertype": order.type.lower(), "price": "0", "price2": "0",
                  "leverage": "none", "order": order.extra.get("descr", ""), "close": ""},
        "vol": f"{order.orig_qty.quantize(Q8)}", "vol_exec": f"{order.executed_qty.quantize(Q8)}",
        "cost": f"{order.cum_quote:.8f}", "fee": f"{fee:.8f}", "price": f"{avg:.{dp}f}",
        "stopprice": "0.00000", "limitprice": "0.00000", "misc": "",
        "oflags": order.extra.get("oflags", "fciq"), "reason": None}
    if order.extra.get("cl_ord_id"):
        out["cl_ord_id"] = order.extra["cl_ord_id"]
    if not order.is_open:
        out["closetm"] = order.update_time / 1000
    if trades and order.fills:
        out["trades"] = [kraken_trade_txid(f.trade_id) for f in order.fills]
    return out


def _matches(order: Order, params: dict[str, str]) -> bool:
    if params.get("cl_ord_id") and order.extra.get("cl_ord_id") != params["cl_ord_id"]:
        return False
    ref = params.get("userref", "")
    return not ref or str(order.extra.get("userref")) == ref


def account_orders(st: SandboxState, key: ApiKey, params: dict[str, str]) -> list[Order]:
    return [o for o in st.engine.orders.values()
            if o.account_id == key.account_id and _matches(o, params)]


def with_trades(params: dict[str, str]) -> bool:
    return params.get("trades", "").lower() in ("true", "1")


@routes.post("/0/private/QueryOrders")
async def query_orders(request: web.Request) -> web.Response:
    key, params = await private(request, "QueryOrders")
    st = state_of(request)
    found: dict[str, Any] = {}
    for txid in [t for t in params.get("txid", "").split(",") if t]:
        number = from_kraken_txid(txid)
        order = st.engine.orders.get(number) if number is not None else None
        if order is None or order.account_id != key.account_id or not _matches(order, params):
            raise KrakenError("EOrder:Invalid order")
        found[txid] = render(order, st.fixture.markets[order.symbol], with_trades(params))
    if not params.get("txid"):
        raise KrakenError("EGeneral:Invalid arguments:txid")
    return ok(found)


@routes.post("/0/private/OpenOrders")
async def open_orders(request: web.Request) -> web.Response:
    key, params = await private(request, "OpenOrders")
    st = state_of(request)
    return ok({"open": {kraken_txid(o.order_id): render(o, st.fixture.markets[o.symbol],
                                                          with_trades(params))
                         for o in account_orders(st, key, params) if o.is_open}})


@routes.post("/0/private/CancelOrder")
async def cancel_order(request: web.Request) -> web.Response:
    key, params = await private(request, "CancelOrder")
    st = state_of(request)
    ref = params.get("txid") or ""
    if params.get("cl_ord_id"):
        targets = [o for o in account_orders(st, key, {"cl_ord_id": params["cl_ord_id"]})
                   if o.is_open]
    else:
        number = from_kraken_txid(ref)
        order = st.engine.orders.get(number) if number is not None else None
        targets = [order] if order is not None and order.account_id == key.account_id else []
        if not targets and ref.lstrip("-").isdigit():
            targets = [o for o in account_orders(st, key, {"userref": ref}) if o.is_open]
    targets = [o for o in targets if o.is_open]
    if not targets:
        raise KrakenError("EOrder:Unknown order")
    for order in targets:
        st.engine.cancel(key.account_id, {"symbol": order.symbol,
                                          "orderId": str(order.order_id)})
    return ok({"count": len(targets)})


__all__ = ["COMMON", "KrakenError", "authenticate", "private", "routes", "sign"]
