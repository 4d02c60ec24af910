"""Admin API under ``/<venue>/admin/`` and, for binanceus, ``/admin/`` (JSON, no auth,
loopback clients only). Each venue has its own keys, accounts, orders, faults and prices.

POST   /admin/keys                {can_trade?, can_withdraw?, balances?, api_key?, secret?,
                                   account_id?, key_type?} -> {api_key, secret, account_id, ...}
                                  (secret in the venue's form: kraken base64, coinbase hex
                                  HMAC secret or, with key_type "ec", an EC P-256 PEM)
GET    /admin/keys/{api_key}      the key's permissions and its account's balances
PATCH  /admin/keys/{api_key}      {can_trade?, can_withdraw?, revoked?, balances?}
DELETE /admin/keys/{api_key}      the key becomes unknown (-2015)
GET    /admin/orders              every order accepted (?api_key=, ?symbol=): ground truth,
                                  with ``venue_order_id`` (kraken txid, coinbase order_id)
POST   /admin/orders              {api_key, symbol, side, quote_qty | qty, client_order_id?}:
                                  a filled market order placed "outside the product" (as on
                                  the exchange's website) -> the order, as GET lists it
POST   /admin/drop_answers        {api_key, count?, hold_ms?}: the key's next ``count`` (1)
                                  order placements are placed and filled, their answers held
                                  ``hold_ms`` (30000) then the connection closed -> the rule
GET    /admin/rejections          every order request refused, with its code and msg
POST   /admin/faults              see ``sandbox.faults`` -> {id, ...}
GET    /admin/faults              the rules and how often each fired
DELETE /admin/faults[/{id}]       remove every rule, or one
POST   /admin/rate-limits         {enabled?, ban_after?, ban_s?, limits?: {name: amount}}: the
                                  venue's real limits per key/IP on (``sandbox.ratelimits``)
GET    /admin/rate-limits         their peaks, refusals, bans and accepted order times
POST   /admin/price               {symbol, price} pins a price; {symbol, price: null} unpins
GET    /admin/price               every current price
POST   /admin/reset               {seed?}: back to a fresh sandbox
"""
from __future__ import annotations

import ipaddress
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from sandbox.auth import ApiKey
from sandbox.dialects.ids import venue_order_id
from sandbox.external import ExternalOrderError, drop_answers, place_external
from sandbox.orders import Order, fmt
from sandbox.routing import state_of
from sandbox.state import SandboxState

routes = web.RouteTableDef()


class AdminError(web.HTTPBadRequest):
    def __init__(self, msg: str) -> None:
        super().__init__(text=json.dumps({"error": msg}), content_type="application/json")


def is_loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:
        return False


async def _json(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise AdminError("body must be JSON") from None
    if not isinstance(body, dict):
        raise AdminError("body must be a JSON object")
    return body


def _balances(raw: Any) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        raise AdminError("balances must be an object {asset: amount}")
    try:
        out = {str(k): Decimal(str(v)) for k, v in raw.items()}
    except InvalidOperation:
        raise AdminError("balances must be decimal amounts") from None
    if any(v < 0 or not v.is_finite() for v in out.values()):
        raise AdminError("balances must be finite and >= 0")
    return out


def _key_view(st: SandboxState, key: ApiKey) -> dict[str, Any]:
    account = st.engine.accounts[key.account_id]
    return {"venue": st.name, "api_key": key.api_key, "secret": key.secret,
            "account_id": key.account_id,
            "can_trade": key.can_trade, "can_withdraw": key.can_withdraw,
            "revoked": key.revoked, "balances": account.balances()}


def _key(st: SandboxState, request: web.Request) -> ApiKey:
    key = st.keys.keys.get(request.match_info["api_key"])
    if key is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "no such key"}),
                               content_type="application/json")
    return key


@routes.post("/admin/keys")
async def create_key(request: web.Request) -> web.Response:
    st, body = state_of(request), await _json(request)
    try:
        key = st.create_key(_balances(body.get("balances", {})),
                            can_trade=bool(body.get("can_trade", True)),
                            can_withdraw=bool(body.get("can_withdraw", False)),
                            api_key=body.get("api_key"), secret=body.get("secret"),
                            account_id=body.get("account_id"),
                            key_type=str(body.get("key_type") or ""))
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    return web.json_response(_key_view(st, key), status=201)


@routes.get("/admin/keys/{api_key:.+}")
async def get_key(request: web.Request) -> web.Response:
    st = state_of(request)
    return web.json_response(_key_view(st, _key(st, request)))


@routes.patch("/admin/keys/{api_key:.+}")
async def patch_key(request: web.Request) -> web.Response:
    st, body = state_of(request), await _json(request)
    key = _key(st, request)
    for flag in ("can_trade", "can_withdraw", "revoked"):
        if flag in body:
            setattr(key, flag, bool(body[flag]))
    if "balances" in body:
        st.engine.fund(key.account_id, _balances(body["balances"]))
    return web.json_response(_key_view(st, key))


@routes.delete("/admin/keys/{api_key:.+}")
async def delete_key(request: web.Request) -> web.Response:
    st = state_of(request)
    del st.keys.keys[_key(st, request).api_key]
    return web.json_response({"deleted": request.match_info["api_key"]})


def _order_view(st: SandboxState, order: Order) -> dict[str, Any]:
    return {**order.admin(), "venue_order_id": venue_order_id(st.name, order.order_id),
            "external": bool(order.extra.get("external"))}


@routes.get("/admin/orders")
async def list_orders(request: web.Request) -> web.Response:
    st, q = state_of(request), request.query
    orders = [_order_view(st, o) for o in st.engine.orders.values()
              if q.get("api_key", o.api_key) == o.api_key and q.get("symbol", o.symbol) == o.symbol]
    return web.json_response(orders)


def _named_key(st: SandboxState, body: dict[str, Any]) -> ApiKey:
    key = st.keys.keys.get(str(body.get("api_key") or ""))
    if key is None:
        raise AdminError("api_key must name an existing key")
    return key


def _amount(body: dict[str, Any], name: str) -> Decimal | None:
    if body.get(name) is None:
        return None
    try:
        value = Decimal(str(body[name]))
    except InvalidOperation:
        raise AdminError(f"{name} must be a decimal") from None
    if not value.is_finite() or value <= 0:
        raise AdminError(f"{name} must be > 0")
    return value


@routes.post("/admin/orders")
async def external_order(request: web.Request) -> web.Response:
    st, body = state_of(request), await _json(request)
    key = _named_key(st, body)
    cid = body.get("client_order_id")
    try:
        order = place_external(st, key, str(body.get("symbol") or ""),
                               str(body.get("side") or ""), quote=_amount(body, "quote_qty"),
                               qty=_amount(body, "qty"),
                               client_order_id=None if cid is None else str(cid))
    except ExternalOrderError as exc:
        raise AdminError(str(exc)) from None
    return web.json_response(_order_view(st, order), status=201)


@routes.post("/admin/drop_answers")
async def drop_order_answers(request: web.Request) -> web.Response:
    st, body = state_of(request), await _json(request)
    key = _named_key(st, body)
    try:
        rule = drop_answers(st, key.api_key, int(body.get("count", 1)),
                            int(body.get("hold_ms", 30_000)))
    except (TypeError, ValueError) as exc:
        raise AdminError(str(exc)) from None
    return web.json_response(rule.to_dict(), status=201)


@routes.get("/admin/rejections")
async def list_rejections(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).engine.rejected)


@routes.post("/admin/faults")
async def add_fault(request: web.Request) -> web.Response:
    st, body = state_of(request), await _json(request)
    try:
        rule = st.faults.add(body)
    except (ValueError, TypeError) as exc:
        raise AdminError(str(exc)) from None
    return web.json_response(rule.to_dict(), status=201)


@routes.post("/admin/rate-limits")
async def set_rate_limits(request: web.Request) -> web.Response:
    st, body = state_of(request), await _json(request)
    try:
        st.limits.configure(body)
    except (TypeError, ValueError) as exc:
        raise AdminError(str(exc)) from None
    return web.json_response(st.limits.stats())


@routes.get("/admin/rate-limits")
async def rate_limits(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).limits.stats())


@routes.get("/admin/faults")
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response([r.to_dict() for r in state_of(request).faults.rules])


@routes.delete("/admin/faults")
async def clear_faults(request: web.Request) -> web.Response:
    state_of(request).faults.clear()
    return web.json_response({"cleared": True})


@routes.delete("/admin/faults/{fault_id}")
async def delete_fault(request: web.Request) -> web.Response:
    fault_id = request.match_info["fault_id"]
    if not fault_id.isdigit() or not state_of(request).faults.remove(int(fault_id)):
        raise web.HTTPNotFound(text=json.dumps({"error": "no such fault"}),
                               content_type="application/json")
    return web.json_response({"deleted": int(fault_id)})


@routes.post("/admin/price")
async def set_price(request: web.Request) -> web.Response:
    st, body = state_of(request), await _json(request)
    symbol = body.get("symbol")
    if symbol not in st.fixture.markets:
        raise AdminError(f"unknown symbol {symbol!r}")
    try:
        price = None if body.get("price") is None else Decimal(str(body["price"]))
    except InvalidOperation:
        raise AdminError("price must be a decimal") from None
    if price is not None and (not price.is_finite() or price <= 0):
        raise AdminError("price must be > 0")
    st.pin(symbol, price)
    return web.json_response({"symbol": symbol, "price": fmt(st.feed.price(symbol)),
                              "pinned": st.feed.quotes[symbol].pinned})


@routes.get("/admin/price")
async def get_prices(request: web.Request) -> web.Response:
    st = state_of(request)
    return web.json_response({s: {"price": fmt(q.price), "pinned": q.pinned}
                              for s, q in st.feed.quotes.items()})


@routes.post("/admin/reset")
async def reset(request: web.Request) -> web.Response:
    st, body = state_of(request), await _json(request)
    st.reset(None if body.get("seed") is None else int(body["seed"]))
    return web.json_response({"reset": True, "seed": st.seed})
