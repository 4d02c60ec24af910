"""Coinbase Advanced Trade spot products and the ``/v2`` currency data ccxt loads.

BTC-USD and BTC-USDC carry the values of ccxt's recorded coinbase market fixture
(quote_min_size 1, base_increment 0.00000001, quote_increment 0.01, base_min_size
0.00000001): a $2 buy is allowed, $0.50 is not.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox.market import Fixture, MarketSpec


def _product(base: str, quote: str, base_name: str, quote_name: str, base_increment: str,
             quote_increment: str, quote_min: str, base_min: str, base_max: str,
             alias: str = "", alias_to: list[str] | None = None) -> dict[str, Any]:
    pid = f"{base}-{quote}"
    return {"product_id": pid, "price": "", "price_percentage_change_24h": "0",
            "volume_24h": "0", "volume_percentage_change_24h": "0",
            "base_increment": base_increment, "quote_increment": quote_increment,
            "quote_min_size": quote_min, "quote_max_size": "150000000",
            "base_min_size": base_min, "base_max_size": base_max,
            "base_name": base_name, "quote_name": quote_name, "watched": False,
            "is_disabled": False, "new": False, "status": "online", "cancel_only": False,
            "limit_only": False, "post_only": False, "trading_disabled": False,
            "auction_mode": False, "product_type": "SPOT", "quote_currency_id": quote,
            "base_currency_id": base, "fcm_trading_session_details": None,
            "mid_market_price": "", "alias": alias, "alias_to": alias_to or [],
            "base_display_symbol": base, "quote_display_symbol": quote, "view_only": False,
            "price_increment": quote_increment, "display_name": pid, "product_venue": "CBE"}


PRODUCTS: dict[str, dict[str, Any]] = {p["product_id"]: p for p in (
    _product("BTC", "USD", "Bitcoin", "US Dollar", "0.00000001", "0.01", "1", "0.00000001",
             "3400", alias_to=["BTC-USDC"]),
    _product("BTC", "USDC", "Bitcoin", "USDC", "0.00000001", "0.01", "1", "0.00000001",
             "3400", alias="BTC-USD"),
    _product("ETH", "USD", "Ethereum", "US Dollar", "0.00000001", "0.01", "1", "0.00000001",
             "42000"),
)}
START_PRICES = {"BTC-USD": Decimal("50000.00"), "BTC-USDC": Decimal("50000.00"),
                "ETH-USD": Decimal("3000.00")}
# /v2/currencies (fiat) and /v2/currencies/crypto entries, in Coinbase's shapes.
FIAT = [{"id": "USD", "name": "US Dollar", "min_size": "0.01"}]
CRYPTO = [
    {"asset_id": "5b71fc48-3dd3-540c-809b-f8c94d0e68b5", "code": "BTC", "name": "Bitcoin",
     "color": "#F7931A", "sort_index": 100, "exponent": 8, "type": "crypto",
     "address_regex": "^([13][a-km-zA-HJ-NP-Z1-9]{25,34})|^(bc1[qzry9x8gf2tvdw0s3jn54khce6mua7l]"
                      "([qpzry9x8gf2tvdw0s3jn54khce6mua7l]{38}|[qpzry9x8gf2tvdw0s3jn54khce6mua7l]"
                      "{58}))$"},
    {"asset_id": "d85dce9b-5b73-5c3c-8978-522ce1d1c1b4", "code": "ETH", "name": "Ethereum",
     "color": "#627EEA", "sort_index": 102, "exponent": 8, "type": "crypto",
     "address_regex": "^(?:0x)?[0-9a-fA-F]{40}$"},
    {"asset_id": "2b92315d-eab7-5bef-84fa-089a131333f5", "code": "USDC", "name": "USDC",
     "color": "#2775CA", "sort_index": 103, "exponent": 6, "type": "crypto",
     "address_regex": "^(?:0x)?[0-9a-fA-F]{40}$"},
]


def _spec(product: dict[str, Any]) -> MarketSpec:
    tick, step = Decimal(product["quote_increment"]), Decimal(product["base_increment"])
    return MarketSpec(
        symbol=product["product_id"], base=product["base_currency_id"],
        quote=product["quote_currency_id"], tick=tick, min_price=tick,
        max_price=Decimal(100000000), step=step, min_qty=Decimal(product["base_min_size"]),
        max_qty=Decimal(product["base_max_size"]), market_min_qty=Decimal(0),
        market_max_qty=Decimal(product["base_max_size"]),
        min_notional=Decimal(product["quote_min_size"]),
        max_notional=Decimal(product["quote_max_size"]), apply_min_to_market=True,
        apply_max_to_market=True, base_precision=8, quote_precision=2,
        order_types=("MARKET", "LIMIT"), info=product)


def coinbase_fixture() -> Fixture:
    return Fixture({pid: _spec(p) for pid, p in PRODUCTS.items()}, dict(START_PRICES))
