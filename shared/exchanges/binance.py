"""Binance (binance.com spot) and Binance.US: one wire dialect, two exchanges.

* Buy by cost: ccxt's ``create_market_buy_order_with_cost`` sends ``quoteOrderQty``; the
  client order id travels as ``newClientOrderId`` (``^[.A-Z:/a-z0-9_-]{1,36}$``: the
  executor's ``pg-`` + 32 hex is valid as is).
* Lookup: ``GET /api/v3/order?origClientOrderId=`` (ccxt ``fetch_order(None, symbol, …)``):
  the exchange's own lookup by client id, so -2013 "Order does not exist." proves absence.
* History: ``GET /api/v3/allOrders`` (``fetch_orders``) and ``/api/v3/myTrades``
  (``fetch_my_trades``), at most 1,000 a call. The newest page first: when it is short or
  reaches back past ``since`` it holds everything since. Else 24-hour windows
  (``startTime``/``endTime``: Binance refuses a longer window) are walked from ``since`` to the
  first order, then the id cursor (``orderId`` / ``fromId``: everything at or after it) pages
  forward until a short page. ``allOrders`` carries no commission: an order's fee is the sum
  of its trades' (``myTrades``, read with it).
* Errors: the body is ``{"code": -NNNN, "msg": "…"}``. -1022 = signature rejected (wrong
  secret); -2014/-2015/-1002 = unknown key, IP or permission (ccxt turns -2015 into
  ``DDoSProtection`` once an instance made a successful private call, so the code decides,
  not the class); -2010 "Duplicate order sent." = the exchange already has that client id.
* Keys: ``GET /api/v3/account`` reports ``canTrade``/``canWithdraw``.
* ccxt options keep binance.com from calling ``sapi``/``fapi``/``dapi`` on ``load_markets``
  (spot markets only, no currencies or margin lists), so a spot-only key and a spot-only
  sandbox are enough. Binance.com has a testnet (``set_sandbox_mode``: testnet.binance.vision);
  Binance.US has none (ccxt inherits binance.com's testnet URL, which is not Binance.US).
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any

import ccxt

from shared.events import RejectCategory
from shared.exchanges.base import (
    ExchangeAdapter,
    KeyAccess,
    KeyProblem,
    OrderLookupInconclusive,
    VenueFill,
    VenueOrder,
    body_of,
)
from shared.exchanges.history import Collected, ms, venue_fill, venue_order, with_fees

DUPLICATE_ORDER = "duplicate order sent"
WRONG_SECRET_CODES = frozenset({"-1022"})
UNKNOWN_KEY_CODES = frozenset({"-2014", "-2015", "-1002"})
DAY_MS = 86_400_000
Fetch = Callable[[str, int | None, int, dict[str, Any]], Awaitable[list[dict[str, Any]]]]


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


class BinanceAdapter(ExchangeAdapter):
    key_permissions = ("API Management → create a key with 'Enable Reading' and 'Enable Spot & "
                       "Margin Trading'; leave 'Enable Withdrawals' off; restrict it to your IP")

    def options(self) -> dict[str, Any]:
        return {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                "fetchMargins": False}

    def buy_params(self, client_order_id: str) -> dict[str, Any]:
        return {"newClientOrderId": client_order_id}

    page_limit: int = 1000  # Binance's maximum for allOrders and myTrades

    async def find_order(self, client: Any, symbol: str, client_order_id: str,
                         since: datetime | None = None) -> dict[str, Any] | None:
        try:
            order = await client.fetch_order(None, symbol, {"origClientOrderId": client_order_id})
        except ccxt.OrderNotFound:
            return None
        return dict(order) if order and order.get("id") else None

    async def orders_since(self, client: Any, symbol: str, since: datetime) -> list[VenueOrder]:
        items = await self._history(client.fetch_orders, symbol, ms(since), "orderId")
        fills = await self.fills_since(client, symbol, since) if items else []
        return [with_fees(venue_order(o), fills) for o in items]

    async def fills_since(self, client: Any, symbol: str, since: datetime) -> list[VenueFill]:
        items = await self._history(client.fetch_my_trades, symbol, ms(since), "fromId")
        return [venue_fill(t) for t in items]

    async def _history(self, fetch: Fetch, symbol: str, since_ms: int,
                       cursor: str) -> list[dict[str, Any]]:
        limit, got = self.page_limit, Collected()

        async def page(since: int | None, params: dict[str, Any]) -> list[dict[str, Any]]:
            return list(await self.read(partial(fetch, symbol, since, limit, params)))
        recent = await page(None, {})
        got.add(recent)
        if len(recent) < limit or min(int(i["timestamp"]) for i in recent) < since_ms:
            return got.since(since_ms, symbol)
        start, now, first = since_ms, int(time.time() * 1000), None
        while first is None and start <= now:
            window = await page(start, {"endTime": start + DAY_MS - 1})
            first = min((int(i["id"]) for i in window), default=None)
            start += DAY_MS
        if first is None:  # the newest page is all after since, yet no window holds one
            raise OrderLookupInconclusive(f"{symbol}: no order found in the windows from "
                                          f"{since_ms} although the newest page is after it")
        while True:
            items = await page(None, {cursor: first})
            got.add(items)
            if len(items) < limit:
                return got.since(since_ms, symbol)
            first = max(int(i["id"]) for i in items) + 1

    def is_duplicate(self, exc: BaseException) -> bool:
        return isinstance(exc, ccxt.InvalidOrder) and DUPLICATE_ORDER in str(exc).lower()

    def error_code(self, exc: BaseException) -> tuple[str, str]:
        body = body_of(exc)
        if not isinstance(body, dict) or "code" not in body:
            return "", ""
        return str(body.get("code")), str(body.get("msg") or "")

    def category(self, exc: BaseException,
                 code: str) -> tuple[RejectCategory, KeyProblem | None]:
        if code in WRONG_SECRET_CODES:
            return RejectCategory.AUTH, KeyProblem.WRONG_SECRET
        if code in UNKNOWN_KEY_CODES:
            return RejectCategory.AUTH, KeyProblem.UNKNOWN_KEY
        return super().category(exc, code)

    async def key_access(self, client: Any, balance: dict[str, Any]) -> KeyAccess:
        raw = balance.get("info")
        info: dict[str, Any] = raw if isinstance(raw, dict) else {}
        return KeyAccess(can_trade=_flag(info.get("canTrade")),
                         can_withdraw=bool(_flag(info.get("canWithdraw"))))


class BinanceUsAdapter(BinanceAdapter):
    ccxt_id = "binanceus"
    label = "Binance.US"
    has_testnet = False


class BinanceComAdapter(BinanceAdapter):
    ccxt_id = "binance"
    label = "Binance"
    has_testnet = True


def make(name: str) -> ExchangeAdapter:
    return BinanceUsAdapter(name) if name == "binanceus" else BinanceComAdapter(name)
