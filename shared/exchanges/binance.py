"""Binance (binance.com spot) and Binance.US: one wire dialect, two exchanges.

* Buy by cost: ccxt's ``create_market_buy_order_with_cost`` sends ``quoteOrderQty``; the
  client order id travels as ``newClientOrderId`` (``^[.A-Z:/a-z0-9_-]{1,36}$``: the
  executor's ``pg-`` + 32 hex is valid as is).
* Lookup: ``GET /api/v3/order?origClientOrderId=`` (ccxt ``fetch_order(None, symbol, …)``).
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

from typing import Any

import ccxt

from shared.events import RejectCategory
from shared.exchanges.base import ExchangeAdapter, KeyAccess, KeyProblem, body_of

DUPLICATE_ORDER = "duplicate order sent"
WRONG_SECRET_CODES = frozenset({"-1022"})
UNKNOWN_KEY_CODES = frozenset({"-2014", "-2015", "-1002"})


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

    async def find_order(self, client: Any, symbol: str,
                         client_order_id: str) -> dict[str, Any] | None:
        try:
            order = await client.fetch_order(None, symbol, {"origClientOrderId": client_order_id})
        except ccxt.OrderNotFound:
            return None
        return dict(order) if order and order.get("id") else None

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
