"""The coinbase dialect: Coinbase Advanced Trade (``/api/v3/brokerage/*``) plus the ``/v2/*``
calls ccxt ``coinbase`` makes in ``load_markets`` and ``fetch_balance``.

Public: ``GET /v2/currencies``, ``/v2/currencies/crypto``, ``/v2/exchange-rates``, ``/v2/time``,
``/api/v3/brokerage/time``, ``/api/v3/brokerage/market/products[/{id}[/ticker]]``.
Private (``sandbox.dialects.coinbase_auth``: legacy HMAC or JWT ES256): ``GET /v2/accounts``,
``/api/v3/brokerage/accounts``, ``key_permissions``, ``transaction_summary``,
``POST /api/v3/brokerage/orders``,
``GET orders/historical/{id}``, ``POST orders/batch_cancel`` (the history listings
``orders/historical/batch`` and ``orders/historical/fills``: ``sandbox.dialects.coinbase_history``).

Errors (as ccxt classifies them): 401 ``Unauthorized`` (v3) / ``{"errors":[{"id":
"authentication_error",...}]}`` (v2); 403 ``{"error":"PERMISSION_DENIED",...}`` for a key
without trade permission; 400 ``{"error":"INVALID_ARGUMENT",...}``; 404 ``NOT_FOUND``; a refused
order is HTTP 200 ``{"success":false,"error_response":{"error":...,
"preview_failure_reason":...}}`` (``INSUFFICIENT_FUND``/``PREVIEW_INSUFFICIENT_FUND``,
below ``quote_min_size``: ``PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL``).

A repeated ``client_order_id`` creates no order: the answer is ``success: true`` with the
existing order's ``order_id`` (Coinbase's documented behaviour: "If the ID provided is not
unique, the order will not be created and the order with this ID will be returned instead").
"""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from sandbox import errors
from sandbox.auth import ApiKey
from sandbox.dialects.coinbase_auth import AuthFailure, check_hmac, check_jwt
from sandbox.dialects.coinbase_markets import CRYPTO, FIAT, PRODUCTS
from sandbox.dialects.ids import coinbase_order_id, from_coinbase_order_id
from sandbox.market import MarketSpec
from sandbox.orders import Order
from sandbox.routing import PREFIX_KEY, state_of, venue_path
from sandbox.rules import market_request
from sandbox.state import SandboxState

routes = web.RouteTableDef()
V3 = "/api/v3/brokerage"


class CoinbaseError(errors.WireError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status} {body}")
        self.status, self._body = status, body

    def body(self) -> Any:
        return self._body


def error(status: int, error: str, message: str) -> CoinbaseError:
    return CoinbaseError(status, {"error": error, "code": {400: 3, 403: 7, 404: 5}.get(status, 2),
                                  "message": message, "error_details": message, "details": []})


def answer(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json")


def bug_response() -> web.Response:
    return answer({"error": "INTERNAL", "code": 13, "message": "internal error"}, 500)


def rate_limited(status: int) -> web.Response:
    return answer({"errors": [{"id": "rate_limit_exceeded", "message": "Too many requests"}]},
                 status)


def too_many(status: int, code: str, msg: str, retry_after_s: int | None) -> web.Response:
    return rate_limited(status)


def server_error(status: int) -> web.Response:
    return answer({"error": "UNAVAILABLE", "code": 14, "message": "service unavailable"}, status)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# authentication -----------------------------------------------------------------------------
async def private(request: web.Request, *, trade: bool = False) -> ApiKey:
    st, path = state_of(request), venue_path(request)
    body = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
    now_s = st.clock() // 1000
    auth = request.headers.get("Authorization", "")
    try:
        if auth.startswith("Bearer "):
            full = request[PREFIX_KEY] + path
            uris = {f"{request.method} {request.host}{full}",
                    f"{request.method} {request.scheme}://{request.host}{full}"}
            key = check_jwt(st.keys.keys, auth[len("Bearer "):], request.method, uris, now_s)
        else:
            key = check_hmac(st.keys.keys, request.headers, request.method, path,
                             request.rel_url.raw_query_string, body, now_s)
    except AuthFailure as exc:
        if path.startswith("/v2/"):
            raise CoinbaseError(401, {"errors": [{"id": "authentication_error",
                                                  "message": exc.reason}]}) from None
        raise CoinbaseError(401, {"error": "unauthorized", "message": exc.reason,
                                  "error_details": exc.reason}) from None
    if trade and not key.can_trade:
        raise error(403, "PERMISSION_DENIED", "Missing required scopes")
    return key


# public -------------------------------------------------------------------------------------
@routes.get("/v2/currencies")
async def fiat_currencies(request: web.Request) -> web.Response:
    return answer({"data": FIAT})


@routes.get("/v2/currencies/crypto")
async def crypto_currencies(request: web.Request) -> web.Response:
    return answer({"data": CRYPTO})


@routes.get("/v2/exchange-rates")
async def exchange_rates(request: web.Request) -> web.Response:
    st = state_of(request)
    base = request.query.get("currency", "USD")
    rates: dict[str, str] = {"USD": "1"}
    for pid, spec in st.fixture.markets.items():
        if spec.quote == "USD" and base == "USD":
            rates[spec.base] = f"{(1 / st.feed.price(pid)):.12f}"
    rates.setdefault("USDC", "1")
    return answer({"data": {"currency": base, "rates": rates}})


def _time(st: SandboxState) -> dict[str, Any]:
    now = st.clock()
    return {"iso": iso(now), "epochSeconds": str(now // 1000), "epochMillis": str(now)}


@routes.get("/v2/time")
async def v2_time(request: web.Request) -> web.Response:
    now = state_of(request).clock()
    return answer({"data": {"iso": iso(now), "epoch": now // 1000}})


@routes.get(f"{V3}/time")
async def v3_time(request: web.Request) -> web.Response:
    return answer(_time(state_of(request)))


def _product(st: SandboxState, pid: str) -> dict[str, Any]:
    return {**PRODUCTS[pid], "price": f"{st.feed.price(pid):.2f}",
            "mid_market_price": f"{st.feed.price(pid):.2f}"}


def _product_id(st: SandboxState, pid: str) -> str:
    if pid not in st.fixture.markets:
        raise error(404, "NOT_FOUND", "ProductID is invalid")
    return pid


@routes.get(f"{V3}/market/products")
async def products(request: web.Request) -> web.Response:
    st = state_of(request)
    kind = request.query.get("product_type", "SPOT")
    chosen = request.query.getall("product_ids", []) or list(PRODUCTS)
    items = [_product(st, p) for p in chosen if p in PRODUCTS] if kind == "SPOT" else []
    return answer({"products": items, "num_products": len(items)})


@routes.get(f"{V3}/market/products/{{product_id}}")
async def product(request: web.Request) -> web.Response:
    st = state_of(request)
    return answer(_product(st, _product_id(st, request.match_info["product_id"])))


@routes.get(f"{V3}/market/products/{{product_id}}/ticker")
async def ticker(request: web.Request) -> web.Response:
    st = state_of(request)
    pid = _product_id(st, request.match_info["product_id"])
    price, tick = st.quote(pid), st.fixture.markets[pid].tick
    q = st.feed.quotes[pid]
    limit = request.query.get("limit", "1")
    count = max(1, min(int(limit), 100)) if limit.isdigit() else 1
    now = st.clock()
    trades = [{"trade_id": str(q.trades + 1000 + i), "product_id": pid, "price": f"{price:.2f}",
               "size": "0.00100000", "time": iso(now), "side": "BUY", "bid": "", "ask": "",
               "exchange": "CBE"} for i in range(count)]
    return answer({"trades": trades, "best_bid": f"{price - tick:.2f}",
                  "best_ask": f"{price + tick:.2f}"})


# accounts -----------------------------------------------------------------------------------
def _assets(st: SandboxState, key: ApiKey) -> list[tuple[str, Decimal, Decimal]]:
    acct = st.engine.accounts[key.account_id]
    return [(a, acct.available(a), acct.locked.get(a, Decimal(0)))
            for a in sorted(set(acct.free) | set(acct.locked))]


def _uuid_for(key: ApiKey, asset: str) -> str:
    return coinbase_order_id(key.account_id * 1_000_003 + sum(map(ord, asset)) * 7919)


@routes.get("/v2/accounts")
async def v2_accounts(request: web.Request) -> web.Response:
    key = await private(request)
    st = state_of(request)
    now = iso(st.engine.accounts[key.account_id].update_time)
    data = [{"id": _uuid_for(key, a), "name": f"{a} Wallet", "primary": True,
             "type": "fiat" if a == "USD" else "wallet",
             "balance": {"amount": f"{free + held:f}", "currency": a},
             "created_at": now, "updated_at": now, "resource": "account",
             "resource_path": f"/v2/accounts/{_uuid_for(key, a)}",
             "allow_deposits": True, "allow_withdrawals": True}
            for a, free, held in _assets(st, key)]
    return answer({"data": data, "pagination": {
        "ending_before": None, "limit": request.query.get("limit", "25"),
        "next_starting_after": None, "next_uri": None, "order": "desc",
        "previous_ending_before": None, "previous_uri": None, "starting_after": None}})


@routes.get(f"{V3}/accounts")
async def v3_accounts(request: web.Request) -> web.Response:
    key = await private(request)
    st = state_of(request)
    now = iso(st.engine.accounts[key.account_id].update_time)
    accounts = [{"uuid": _uuid_for(key, a), "name": f"{a} Wallet", "currency": a,
                 "available_balance": {"value": f"{free:f}", "currency": a}, "default": True,
                 "active": True, "created_at": now, "updated_at": now, "deleted_at": None,
                 "type": "ACCOUNT_TYPE_FIAT" if a == "USD" else "ACCOUNT_TYPE_CRYPTO",
                 "ready": True, "hold": {"value": f"{held:f}", "currency": a},
                 "retail_portfolio_id": _uuid_for(key, "")}
                for a, free, held in _assets(st, key)]
    return answer({"accounts": accounts, "has_next": False, "cursor": "",
                  "size": len(accounts)})


@routes.get(f"{V3}/key_permissions")
async def key_permissions(request: web.Request) -> web.Response:
    """What the key may do, as Coinbase reports it (``can_trade`` false = read-only key)."""
    key = await private(request)
    return answer({"can_view": True, "can_trade": key.can_trade,
                  "can_transfer": key.can_withdraw, "portfolio_uuid": _uuid_for(key, ""),
                  "portfolio_type": "DEFAULT"})


@routes.get(f"{V3}/transaction_summary")
async def transaction_summary(request: web.Request) -> web.Response:
    await private(request)
    rate = f"{state_of(request).venue.fee_rate}"
    return answer({"total_volume": 0, "total_fees": 0, "fee_tier": {
        "pricing_tier": "Advanced 1", "usd_from": "0", "usd_to": "1000",
        "taker_fee_rate": rate, "maker_fee_rate": rate, "aop_from": "", "aop_to": ""},
        "margin_rate": None, "goods_and_services_tax": None,
        "advanced_trade_only_volume": 0, "advanced_trade_only_fees": 0,
        "coinbase_pro_volume": 0, "coinbase_pro_fees": 0, "total_balance": "",
        "has_promo_fee": False})


# orders -------------------------------------------------------------------------------------
def _failure(error: str, message: str, preview: str, config: Any) -> web.Response:
    return answer({"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
                  "error_response": {"error": error, "message": message,
                                     "error_details": message,
                                     "preview_failure_reason": preview},
                  "order_configuration": config})


def _size(config: dict[str, Any], name: str, increment: Decimal) -> Decimal | None:
    raw = config.get(name)
    if raw is None:
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise error(400, "INVALID_ARGUMENT", f"invalid {name}") from None
    if not value.is_finite() or value <= 0 or value % increment != 0:
        raise error(400, "INVALID_ARGUMENT", f"invalid {name} precision")
    return value


def _parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise error(400, "INVALID_ARGUMENT", "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise error(400, "INVALID_ARGUMENT", "request body must be an object")
    return body


def _success(order: Order, config: Any) -> web.Response:
    return answer({"success": True, "failure_reason": "UNKNOWN_FAILURE_REASON",
                  "order_id": coinbase_order_id(order.order_id),
                  "success_response": {"order_id": coinbase_order_id(order.order_id),
                                       "product_id": order.symbol, "side": order.side,
                                       "client_order_id": order.client_order_id},
                  "order_configuration": config})


@routes.post(f"{V3}/orders")
async def create_order(request: web.Request) -> web.Response:
    """``POST orders``; every refusal (an error status or ``success: false``) is in the admin
    rejections list, in Coinbase's words."""
    try:
        response = await _create_order(request)
    except CoinbaseError as exc:
        await _record(request, exc.body())
        raise
    if isinstance(response.text, str) and response.text.startswith('{"success":false'):
        await _record(request, json.loads(response.text))
    return response


async def _record(request: web.Request, body: Any) -> None:
    try:
        params = json.loads(await request.read() or b"{}")
    except ValueError:
        params = {}
    detail = body.get("error_response", body) if isinstance(body, dict) else {}
    code = str(detail.get("preview_failure_reason") or detail.get("error") or "") \
        if isinstance(detail, dict) else ""
    message = str(detail.get("message") or code) if isinstance(detail, dict) else str(body)
    state_of(request).engine.reject(_caller(request), params, code or "error", message)


def _caller(request: web.Request) -> str:
    """The key named by the request (HMAC header, or a JWT's ``kid``), unverified."""
    if request.headers.get("CB-ACCESS-KEY"):
        return request.headers["CB-ACCESS-KEY"]
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        head = token.split(".")[0]
        return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])
    except (ValueError, KeyError, TypeError, IndexError):
        return ""


async def _create_order(request: web.Request) -> web.Response:
    key = await private(request, trade=True)
    st = state_of(request)
    body = _parse_body(await request.read())
    cid, pid, side = body.get("client_order_id"), body.get("product_id"), body.get("side")
    config = body.get("order_configuration")
    if not isinstance(cid, str) or not cid or len(cid) > 128:
        raise error(400, "INVALID_ARGUMENT", "client_order_id is required")
    existing = st.engine.by_cid.get((key.account_id, cid))
    if existing is not None:
        return _success(existing, existing.extra.get("order_configuration", config))
    if not isinstance(pid, str) or pid not in st.fixture.markets:
        return _failure("INVALID_PRODUCT_ID", "ProductID is invalid",
                        "PREVIEW_INVALID_PRODUCT_ID", config)
    if side not in ("BUY", "SELL"):
        raise error(400, "INVALID_ARGUMENT", "side must be BUY or SELL")
    if not isinstance(config, dict):
        raise error(400, "INVALID_ARGUMENT", "order_configuration is required")
    ioc = config.get("market_market_ioc")
    if not isinstance(ioc, dict) or len(config) != 1:
        return _failure("UNSUPPORTED_ORDER_CONFIGURATION", "only market_market_ioc orders are "
                        "served by the sandbox", "PREVIEW_INVALID_ORDER_CONFIG", config)
    spec, price = st.fixture.markets[pid], st.feed.price(pid)
    quote, base = _size(ioc, "quote_size", spec.tick), _size(ioc, "base_size", spec.step)
    if (quote is None) == (base is None):
        raise error(400, "INVALID_ARGUMENT", "exactly one of quote_size and base_size")
    if quote is not None and side == "SELL":
        return _failure("UNSUPPORTED_ORDER_CONFIGURATION", "quote_size is for market buys",
                        "PREVIEW_INVALID_ORDER_CONFIG", config)
    try:
        req = market_request(spec, side, price, qty=base, quote=quote, client_order_id=cid,
                             quote_fee_rate=st.venue.fee_rate)
        order = st.engine.place_request(key, req, body, record=False)
    except errors.BinanceError as exc:
        return _refusal(exc, spec, quote is not None, config)
    order.extra["order_configuration"] = config
    return _success(order, config)


def _refusal(exc: errors.BinanceError, spec: MarketSpec, by_quote: bool,
             config: Any) -> web.Response:
    """The core's refusal (by its ``reason``) as Coinbase's ``success: false`` answer."""
    if exc.reason == "insufficient_funds":
        return _failure("INSUFFICIENT_FUND", "Insufficient balance in source account",
                        "PREVIEW_INSUFFICIENT_FUND", config)
    if exc.reason == "below_minimum" and by_quote:
        return _failure("INVALID_ORDER_CONFIGURATION", f"Order size is below the minimum of "
                        f"{spec.min_notional} {spec.quote} (quote_min_size)",
                        "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL", config)
    if exc.reason == "below_minimum":
        return _failure("INVALID_ORDER_CONFIGURATION", f"Order size is below the minimum of "
                        f"{spec.min_qty} {spec.base} (base_min_size) or "
                        f"{spec.min_notional} {spec.quote}",
                        "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL", config)
    if exc.reason == "above_maximum":
        side = "QUOTE" if by_quote else "BASE"
        return _failure("INVALID_ORDER_CONFIGURATION", "Order size is above the maximum",
                        f"PREVIEW_INVALID_{side}_SIZE_TOO_LARGE", config)
    return _failure("UNKNOWN_FAILURE_REASON", exc.msg, "UNKNOWN_PREVIEW_FAILURE_REASON", config)


STATUS = {"NEW": "OPEN", "PARTIALLY_FILLED": "OPEN", "FILLED": "FILLED",
          "CANCELED": "CANCELLED", "EXPIRED": "EXPIRED"}


def render(order: Order) -> dict[str, Any]:
    """An ``orders/historical`` order."""
    fees = sum((f.commission for f in order.fills), Decimal(0))
    avg = order.cum_quote / order.executed_qty if order.executed_qty else Decimal(0)
    config = order.extra.get("order_configuration") or {
        "market_market_ioc": {"base_size": f"{order.orig_qty:f}"}}
    by_quote = "quote_size" in config.get("market_market_ioc", {})
    filled = order.executed_qty
    pct = (filled / order.orig_qty * 100) if order.orig_qty else Decimal(0)
    after_fees = order.cum_quote + fees if order.side == "BUY" else order.cum_quote - fees
    return {
        "order_id": coinbase_order_id(order.order_id), "product_id": order.symbol,
        "user_id": coinbase_order_id(order.account_id), "order_configuration": config,
        "side": order.side, "client_order_id": order.client_order_id,
        "status": STATUS.get(order.status, "FAILED"), "time_in_force": "IMMEDIATE_OR_CANCEL",
        "created_time": iso(order.time), "completion_percentage": f"{pct:.2f}",
        "filled_size": f"{filled.normalize():f}" if filled else "0",
        "average_filled_price": f"{avg:.2f}", "fee": "", "number_of_fills": str(len(order.fills)),
        "filled_value": f"{order.cum_quote.normalize():f}" if order.cum_quote else "0",
        "pending_cancel": False, "size_in_quote": by_quote, "total_fees": f"{fees.normalize():f}",
        "size_inclusive_of_fees": by_quote,
        "total_value_after_fees": f"{after_fees.normalize():f}" if after_fees else "0",
        "trigger_status": "INVALID_ORDER_TYPE", "order_type": "MARKET",
        "reject_reason": "REJECT_REASON_UNSPECIFIED", "settled": not order.is_open,
        "product_type": "SPOT", "reject_message": "", "cancel_message": "",
        "order_placement_source": "RETAIL_ADVANCED",
        "outstanding_hold_amount": f"{order.locked.normalize():f}" if order.locked else "0",
        "is_liquidation": False,
        "last_fill_time": iso(order.fills[-1].time) if order.fills else None,
        "edit_history": [], "leverage": "", "margin_type": "UNKNOWN_MARGIN_TYPE",
        "retail_portfolio_id": coinbase_order_id(order.account_id)}


@routes.get(f"{V3}/orders/historical/{{order_id}}")
async def get_order(request: web.Request) -> web.Response:
    key = await private(request)
    st = state_of(request)
    number = from_coinbase_order_id(request.match_info["order_id"])
    order = st.engine.orders.get(number) if number is not None else None
    if order is None or order.account_id != key.account_id:
        raise error(404, "NOT_FOUND", "order with this orderID was not found")
    return answer({"order": render(order)})


@routes.post(f"{V3}/orders/batch_cancel")
async def batch_cancel(request: web.Request) -> web.Response:
    key = await private(request, trade=True)
    st = state_of(request)
    ids = _parse_body(await request.read()).get("order_ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise error(400, "INVALID_ARGUMENT", "order_ids is required")
    results = []
    for oid in ids:
        number = from_coinbase_order_id(oid)
        order = st.engine.orders.get(number) if number is not None else None
        if order is None or order.account_id != key.account_id:
            results.append({"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER",
                            "order_id": oid})
        elif not order.is_open:
            results.append({"success": False, "failure_reason": "INVALID_CANCEL_REQUEST",
                            "order_id": oid})
        else:
            st.engine.cancel(key.account_id, {"symbol": order.symbol,
                                              "orderId": str(order.order_id)})
            results.append({"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                            "order_id": oid})
    return answer({"results": results})
