"""Kraken spot (REST ``/0/public/*``, ``/0/private/*``).

* Buy by cost: ccxt's ``create_market_buy_order_with_cost`` sends ``volume=<cost>`` with
  ``oflags=viqc`` (volume in quote currency); the client order id goes as ``cl_ord_id`` (ccxt
  param ``clientOrderId``). Kraken takes a UUID there (or ≤ 18 chars of free text), so the
  executor's ``pg-`` + 32 hex becomes the long UUID of the same 32 hex digits.
* The ``AddOrder`` reply holds only ``txid`` and a description: the fill is read by
  ``QueryOrders`` after (``complete``).
* Lookup: ``fetch_order_with_client_order_id`` does not work on kraken in ccxt 4.5.90 (it
  sends ``userref``, not ``cl_ord_id``), so an order is found with ``OpenOrders`` then
  ``ClosedOrders`` filtered by ``cl_ord_id`` (ccxt ``params={'clientOrderId': …}``) and the
  parsed ``clientOrderId`` compared.
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
from typing import Any

import ccxt

from shared.events import RejectCategory
from shared.exchanges.base import ExchangeAdapter, KeyAccess, KeyProblem, body_of, uuid_from

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

    def client_order_id(self, canonical: str) -> str:
        return uuid_from(canonical)

    async def find_order(self, client: Any, symbol: str, client_order_id: str,
                         since: datetime | None = None) -> dict[str, Any] | None:
        params = {"clientOrderId": client_order_id}
        for fetch in (client.fetch_open_orders, client.fetch_closed_orders):
            for order in await fetch(symbol, None, None, dict(params)):
                if order.get("clientOrderId") == client_order_id and order.get("id"):
                    return dict(order)
        return None

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
