"""Coinbase Advanced Trade (``/api/v3/brokerage/*``; balances on ``/v2/accounts``).

* Buy by cost: ``create_market_buy_order_with_cost`` sends ``market_market_ioc.quote_size``.
  The client order id must be the ccxt param ``client_order_id`` (ccxt silently drops
  ``clientOrderId`` here and sends its own random ``ccxt-…`` id, which would make the order
  impossible to find again). A buy by base quantity is sent as its cost at ``price``: ccxt
  turns a coinbase market buy of an amount into ``quote_size`` = amount × price anyway.
* The create reply is ``success_response{order_id, client_order_id}`` without a fill: the
  order is read by ``GET …/orders/historical/{id}`` after (``complete``).
* Lookup: Coinbase has no "order by client id" endpoint that ccxt can use
  (``fetch_order_with_client_order_id`` sends an empty order id), and its listing has no
  client id filter, so an order is found by paging the product's orders
  (``GET …/orders/historical/batch``, newest first, ``start_date`` = the intent's creation
  time less ``LOOKUP_SKEW``) with the listing's ``cursor`` until it ends, matching
  ``client_order_id``. Reading only the newest 100 (as before) missed an order once 100 more
  came after it: the line said "rejected … not re-sent" while Coinbase held it FILLED. The
  listing ends when a page is short or carries no cursor (Coinbase's is "" on the last page);
  without ``since`` the whole history is paged.
* History: the same listing and ``…/orders/historical/fills`` (``fetch_my_trades``,
  ``start_sequence_timestamp``), ``page_limit`` a page, to the end.
* Errors need the body: ``{"error": "PERMISSION_DENIED", …}``, ``{"errors": [{"id":
  "authentication_error", "message": "invalid signature"}]}``, or HTTP 200 ``{"success":
  false, "error_response": {"error": "INSUFFICIENT_FUND", …}}`` (ccxt maps only
  ``preview_failure_reason``, the rest is ``ExchangeError``).
* Keys: ``GET /api/v3/brokerage/key_permissions`` says ``can_trade``/``can_transfer``.
  No testnet: ``PIGGY_COINBASE_TESTNET`` is refused.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import ccxt

from shared.events import RejectCategory
from shared.exchanges.base import (
    ExchangeAdapter,
    KeyAccess,
    KeyProblem,
    VenueFill,
    VenueOrder,
    body_of,
)
from shared.exchanges.history import (
    LOOKUP_SKEW_MS,
    Collected,
    matching,
    ms,
    venue_fill,
    venue_order,
)

_CATEGORIES: tuple[tuple[str, RejectCategory], ...] = (
    ("INSUFFICIENT_FUND", RejectCategory.INSUFFICIENT_FUNDS),
    ("PREVIEW_INSUFFICIENT_FUND", RejectCategory.INSUFFICIENT_FUNDS),
    ("RATE_LIMIT", RejectCategory.RATE_LIMITED),
    ("RESOURCE_EXHAUSTED", RejectCategory.RATE_LIMITED),
    ("UNAVAILABLE", RejectCategory.UNAVAILABLE),
    ("INTERNAL", RejectCategory.UNAVAILABLE),
    ("INVALID", RejectCategory.INVALID_ORDER),
    ("PREVIEW_", RejectCategory.INVALID_ORDER),
    ("UNSUPPORTED", RejectCategory.INVALID_ORDER),
    ("UNKNOWN_PRODUCT", RejectCategory.INVALID_ORDER),
    ("NOT_FOUND", RejectCategory.INVALID_ORDER),
)
_AUTH_CODES = frozenset({"UNAUTHORIZED", "AUTHENTICATION_ERROR", "INVALID_API_KEY",
                         "INVALID_SIGNATURE", "UNAUTHENTICATED"})


class CoinbaseAdapter(ExchangeAdapter):
    ccxt_id = "coinbase"
    label = "Coinbase"
    has_testnet = False
    key_permissions = ("Coinbase Developer Platform → API keys → a Secret API key for Advanced "
                       "Trade with 'View' and 'Trade' permissions; leave 'Transfer' off")

    def buy_params(self, client_order_id: str) -> dict[str, Any]:
        return {"client_order_id": client_order_id}

    async def buy_quantity(self, client: Any, symbol: str, quantity: Decimal,
                           client_order_id: str, price: Decimal) -> dict[str, Any]:
        return await self.buy_with_cost(client, symbol, quantity * price, client_order_id)

    page_limit: int = 250

    async def find_order(self, client: Any, symbol: str, client_order_id: str,
                         since: datetime | None = None) -> dict[str, Any] | None:
        start = None if since is None else ms(since) - LOOKUP_SKEW_MS
        async for page in self._pages(client.fetch_orders, symbol, start, Collected()):
            found = matching(page, client_order_id)
            if found is not None:
                return found
        return None

    async def orders_since(self, client: Any, symbol: str, since: datetime) -> list[VenueOrder]:
        got = Collected()
        async for _page in self._pages(client.fetch_orders, symbol, ms(since), got):
            pass
        return [venue_order(o) for o in got.since(ms(since), symbol)]

    async def fills_since(self, client: Any, symbol: str, since: datetime) -> list[VenueFill]:
        got = Collected()
        async for _page in self._pages(client.fetch_my_trades, symbol, ms(since), got):
            pass
        return [venue_fill(t) for t in got.since(ms(since), symbol)]

    async def _pages(self, fetch: Any, symbol: str, start: int | None,
                     got: Collected) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page of a Coinbase listing from ``start`` (ms) on, newest first, to its end.
        ccxt puts the answer's ``cursor`` into one item's ``info`` (and sorts the page)."""
        cursor = ""
        while True:
            params = {"cursor": cursor} if cursor else {}
            page = list(await self.read(partial(fetch, symbol, start, self.page_limit, params)))
            got.add(page)
            yield page
            cursor = next((str(i["info"]["cursor"]) for i in page
                           if isinstance(i.get("info"), dict) and i["info"].get("cursor")), "")
            if len(page) < self.page_limit or not cursor:
                return

    def is_duplicate(self, exc: BaseException) -> bool:
        return "DUPLICATE" in self.error_code(exc)[0].upper()

    def error_code(self, exc: BaseException) -> tuple[str, str]:
        body = body_of(exc)
        if not isinstance(body, dict):
            text = str(exc).strip()
            if "unauthorized" in text.lower():
                return "unauthorized", text
            return "", ""
        nested = body.get("error_response")
        if isinstance(nested, dict):
            code = (nested.get("error") or nested.get("preview_failure_reason")
                    or nested.get("new_order_failure_reason") or "")
            return str(code), str(nested.get("message") or nested.get("error_details") or code)
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("id") or ""), str(errors[0].get("message") or "")
        code = body.get("error") or ""
        return str(code), str(body.get("message") or body.get("error_details") or code)

    def category(self, exc: BaseException,
                 code: str) -> tuple[RejectCategory, KeyProblem | None]:
        upper = code.upper()
        if upper == "PERMISSION_DENIED" or isinstance(exc, ccxt.PermissionDenied):
            return RejectCategory.AUTH, KeyProblem.NO_PERMISSION
        if upper in _AUTH_CODES or isinstance(exc, ccxt.AuthenticationError):
            message = self.error_code(exc)[1].lower()
            wrong = "signature" in message or "secret" in message
            return RejectCategory.AUTH, KeyProblem.WRONG_SECRET if wrong else KeyProblem.UNKNOWN_KEY
        for prefix, category in _CATEGORIES:
            if upper.startswith(prefix):
                return category, None
        return super().category(exc, code)

    async def key_access(self, client: Any, balance: dict[str, Any]) -> KeyAccess:
        try:
            answer = await client.v3PrivateGetBrokerageKeyPermissions()
        except ccxt.PermissionDenied:
            return KeyAccess(can_trade=False)
        except ccxt.BaseError:  # balances answered just before: the endpoint is what's missing
            return KeyAccess(can_trade=None)
        info = answer if isinstance(answer, dict) else {}
        can_trade = info.get("can_trade")
        return KeyAccess(can_trade=can_trade if isinstance(can_trade, bool) else None,
                         can_withdraw=info.get("can_transfer") is True)


def make(name: str) -> ExchangeAdapter:
    return CoinbaseAdapter(name)
