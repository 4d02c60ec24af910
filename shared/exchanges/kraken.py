"""Kraken spot (REST ``/0/public/*``, ``/0/private/*``).

* Buy by cost: ccxt's ``create_market_buy_order_with_cost`` sends ``volume=<cost>`` with
  ``oflags=viqc`` (volume in quote currency); the client order id goes as ``cl_ord_id`` (ccxt
  param ``clientOrderId``). Kraken takes a UUID there (or ≤ 18 chars of free text), so the
  executor's ``pg-`` + 32 hex becomes the long UUID of the same 32 hex digits.
* The ``AddOrder`` reply holds only ``txid`` and a description: the fill is read by
  ``QueryOrders`` after (``complete``).
* Lookup: ``fetch_order_with_client_order_id`` does not work on kraken in ccxt 4.5.90 (it
  sends ``userref``, not ``cl_ord_id``), so an order is found with ``OpenOrders`` then
  ``ClosedOrders`` filtered by ``cl_ord_id`` (ccxt ``params={'clientOrderId': …}``): Kraken's
  own lookup by client id, so an empty answer proves absence (open first: an order that
  closes between the two calls is then in the second). Should an answer hold another client
  id (the filter ignored), the closed orders are paged back to ``since`` instead, and without
  ``since`` the lookup is inconclusive.
* History: ``ClosedOrders`` and ``TradesHistory`` with ``start`` (seconds, exclusive) and
  ``ofs``: Kraken's pages are 50, newest first, and are read until a short page (orders that
  arrive meanwhile only shift items to later pages: read twice, kept once); ``OpenOrders``
  is read before the closed pages.
* Nonces: every private call carries a nonce that must exceed the key's last one. Two
  processes on one key (two gateways) race: a call can be refused ``EAPI:Invalid nonce``
  before Kraken does anything, so reads (the fill after ``AddOrder``, lookups, history) are
  asked again (``read``; ccxt 4.5.90 makes ``InvalidNonce`` a ``NetworkError``, retryable).
  The fill read failing for that reason was what left
  trade lines "LIVE unknown, filled 0" for orders Kraken had filled.
* Errors: HTTP 200 with ``{"error": ["EAPI:Invalid key"]}``. ccxt raises ``ExchangeError``
  (not ``AuthenticationError``) for ``EAPI:Invalid signature``, so the string decides.
* Keys: Kraken does not report a key's permissions. ``BalanceEx`` needs "Query Funds";
  trading permission is probed with ``AddOrder`` and ``validate=true`` (Kraken checks the
  order and the key's permission without submitting it): ``EGeneral:Permission denied`` means
  the key may not trade. No testnet: ``PIGGY_KRAKEN_TESTNET`` is refused.
"""
from __future__ import annotations

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
    OrderLookupInconclusive,
    VenueFill,
    VenueOrder,
    body_of,
    uuid_from,
)
from shared.exchanges.history import (
    LOOKUP_SKEW_MS,
    Collected,
    matching,
    ms,
    quote_of,
    venue_fill,
    venue_order,
)

_AUTH = {"EAPI:Invalid signature": KeyProblem.WRONG_SECRET,
         "EAPI:Invalid key": KeyProblem.UNKNOWN_KEY,
         "EAPI:Bad request": KeyProblem.UNKNOWN_KEY,
         "EGeneral:Permission denied": KeyProblem.NO_PERMISSION}
_PREFIXES: tuple[tuple[str, RejectCategory], ...] = (
    ("EOrder:Insufficient funds", RejectCategory.INSUFFICIENT_FUNDS),
    ("EAPI:Rate limit", RejectCategory.RATE_LIMITED),
    ("EOrder:Rate limit", RejectCategory.RATE_LIMITED),
    ("EGeneral:Too many requests", RejectCategory.RATE_LIMITED),
    ("EService:", RejectCategory.UNAVAILABLE),
    ("EGeneral:Internal error", RejectCategory.UNAVAILABLE),
    ("EAPI:Invalid nonce", RejectCategory.UNAVAILABLE),
    ("EOrder:", RejectCategory.INVALID_ORDER),
    ("EQuery:", RejectCategory.INVALID_ORDER),
    ("EGeneral:Invalid arguments", RejectCategory.INVALID_ORDER),
)


class KrakenAdapter(ExchangeAdapter):
    ccxt_id = "kraken"
    label = "Kraken"
    has_testnet = False
    key_permissions = ("Settings → API → create a key with 'Query Funds', 'Query Open Orders & "
                       "Trades', 'Query Closed Orders & Trades' and 'Create & Modify Orders'; "
                       "leave 'Withdraw Funds' off")

    page_limit: int = 50  # Kraken's own page size for ClosedOrders and TradesHistory

    def client_order_id(self, canonical: str) -> str:
        return uuid_from(canonical)

    async def find_order(self, client: Any, symbol: str, client_order_id: str,
                         since: datetime | None = None) -> dict[str, Any] | None:
        ignored = False
        for fetch in (client.fetch_open_orders, client.fetch_closed_orders):
            answer = list(await self.read(partial(fetch, None, None, None,
                                                  {"clientOrderId": client_order_id})))
            found = matching(answer, client_order_id)
            if found is not None:
                return found
            ignored = ignored or bool(answer)
        if not ignored:
            return None
        if since is None:
            raise OrderLookupInconclusive("kraken answered other orders to a lookup by "
                                          "cl_ord_id, and no time bounds the search")
        closed = await self._pages(client.fetch_closed_orders, ms(since) - LOOKUP_SKEW_MS)
        return matching(closed.by_id.values(), client_order_id)

    async def orders_since(self, client: Any, symbol: str, since: datetime) -> list[VenueOrder]:
        got = Collected()
        got.add(await self.read(lambda: client.fetch_open_orders(None)))
        closed = await self._pages(client.fetch_closed_orders, ms(since))
        got.add(closed.by_id.values())
        return [venue_order(o, quote_of(symbol)) for o in got.since(ms(since), symbol)]

    async def fills_since(self, client: Any, symbol: str, since: datetime) -> list[VenueFill]:
        got = await self._pages(client.fetch_my_trades, ms(since))
        return [venue_fill(t) for t in got.since(ms(since), symbol)]

    async def _pages(self, fetch: Any, since_ms: int) -> Collected:
        """Every item of a Kraken history call from ``since_ms`` on, page by page (``ofs``)."""
        got, offset = Collected(), 0
        start = since_ms // 1000 - 1  # whole seconds, exclusive
        while True:
            page = list(await self.read(partial(fetch, None, None, None,
                                                {"start": start, "ofs": offset})))
            got.add(page)
            if len(page) < self.page_limit:
                return got
            offset += len(page)

    async def complete(self, client: Any, symbol: str, order: dict[str, Any]) -> dict[str, Any]:
        """As the base, and a fee without a currency is in the quote currency (Kraken's
        default for a buy; ccxt names it only when the order's ``oflags`` say so)."""
        done = await super().complete(client, symbol, order)
        fee = done.get("fee")
        if isinstance(fee, dict) and fee.get("cost") and not fee.get("currency") and "/" in symbol:
            done["fee"] = {**fee, "currency": symbol.split("/")[1].split(":")[0]}
        return done

    def is_duplicate(self, exc: BaseException) -> bool:
        return "duplicate" in str(exc).lower() and "EOrder" in str(exc)

    def error_code(self, exc: BaseException) -> tuple[str, str]:
        body = body_of(exc)
        errors = body.get("error") if isinstance(body, dict) else None
        if isinstance(errors, list) and errors:
            first = str(errors[0])
            return first, first
        return "", ""

    def category(self, exc: BaseException,
                 code: str) -> tuple[RejectCategory, KeyProblem | None]:
        for text, problem in _AUTH.items():
            if code.startswith(text):
                return RejectCategory.AUTH, problem
        for prefix, category in _PREFIXES:
            if code.startswith(prefix):
                return category, None
        return super().category(exc, code)

    async def key_access(self, client: Any, balance: dict[str, Any]) -> KeyAccess:
        market = _probe_market(client.markets or {})
        if market is None:
            return KeyAccess(can_trade=None)
        minimum = (market.get("limits") or {}).get("amount", {}).get("min") or 0.0001
        try:
            await client.privatePostAddOrder({
                "pair": market["id"], "type": "buy", "ordertype": "market",
                "volume": format(Decimal(str(minimum)), "f"), "validate": "true"})
        except ccxt.PermissionDenied:
            return KeyAccess(can_trade=False)
        except (ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.BadRequest):
            return KeyAccess(can_trade=True)  # refused after the permission check passed
        except ccxt.ExchangeError as exc:
            if self.classify(exc).key_problem is KeyProblem.NO_PERMISSION:
                return KeyAccess(can_trade=False)
            return KeyAccess(can_trade=None)
        return KeyAccess(can_trade=True)


def _probe_market(markets: dict[str, Any]) -> dict[str, Any] | None:
    for symbol in ("BTC/USD", "BTC/USDT", "ETH/USD"):
        if symbol in markets:
            return dict(markets[symbol])
    spot = [m for m in markets.values() if m.get("spot")]
    return dict(spot[0]) if spot else None


def make(name: str) -> ExchangeAdapter:
    return KrakenAdapter(name)
