"""Kraken's assets and spot pairs as ``/0/public/Assets`` and ``AssetPairs`` answer them, and
the core ``MarketSpec`` each pair trades under.

XXBTZUSD carries the values of ccxt's recorded kraken market fixture (ordermin 0.0001 BTC,
costmin 0.5 USD, lot_decimals 8, pair_decimals 1, tick 0.1): at ~$50,000 a $2 buy is below
the minimum quantity, as on the real exchange. Inside the core, assets have their common
codes (BTC, USD); the wire uses Kraken's (XXBT, ZUSD).
"""
from __future__ import annotations

import base64
import secrets
from decimal import Decimal
from typing import Any

from sandbox.market import Fixture, MarketSpec
from sandbox.venue import KeyMaterial

ASSETS: dict[str, dict[str, Any]] = {
    "XXBT": {"aclass": "currency", "altname": "XBT", "decimals": 10, "display_decimals": 5,
             "collateral_value": 1.0, "status": "enabled"},
    "XETH": {"aclass": "currency", "altname": "ETH", "decimals": 10, "display_decimals": 5,
             "collateral_value": 1.0, "status": "enabled"},
    "ZUSD": {"aclass": "currency", "altname": "USD", "decimals": 4, "display_decimals": 2,
             "collateral_value": 1.0, "status": "enabled"},
    "USDT": {"aclass": "currency", "altname": "USDT", "decimals": 8, "display_decimals": 4,
             "collateral_value": 1.0, "status": "enabled"},
}
# Kraken asset code -> the core's (common) asset code, and back.
COMMON = {"XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD", "USDT": "USDT"}
KRAKEN = {v: k for k, v in COMMON.items()}

_FEES = [[0, 0.26], [50000, 0.24], [100000, 0.22], [250000, 0.2], [500000, 0.18],
         [1000000, 0.16], [2500000, 0.14], [5000000, 0.12], [10000000, 0.1]]
_FEES_MAKER = [[0, 0.16], [50000, 0.14], [100000, 0.12], [250000, 0.1], [500000, 0.08],
               [1000000, 0.06], [2500000, 0.04], [5000000, 0.02], [10000000, 0.0]]


def _pair(altname: str, wsname: str, base: str, quote: str, pair_decimals: int,
          lot_decimals: int, ordermin: str, costmin: str, tick: str) -> dict[str, Any]:
    return {"altname": altname, "wsname": wsname, "aclass_base": "currency", "base": base,
            "aclass_quote": "currency", "quote": quote, "lot": "unit",
            "cost_decimals": 5, "pair_decimals": pair_decimals, "lot_decimals": lot_decimals,
            "lot_multiplier": 1, "leverage_buy": [2, 3, 4, 5], "leverage_sell": [2, 3, 4, 5],
            "fees": _FEES, "fees_maker": _FEES_MAKER, "fee_volume_currency": "ZUSD",
            "margin_call": 80, "margin_stop": 40, "ordermin": ordermin, "costmin": costmin,
            "tick_size": tick, "status": "online", "long_position_limit": 270,
            "short_position_limit": 180}


PAIRS: dict[str, dict[str, Any]] = {
    "XXBTZUSD": _pair("XBTUSD", "XBT/USD", "XXBT", "ZUSD", 1, 8, "0.0001", "0.5", "0.1"),
    "XETHZUSD": _pair("ETHUSD", "ETH/USD", "XETH", "ZUSD", 2, 8, "0.002", "0.5", "0.01"),
    "XBTUSDT": _pair("XBTUSDT", "XBT/USDT", "XXBT", "USDT", 1, 8, "0.0001", "0.5", "0.1"),
}
START_PRICES = {"XXBTZUSD": Decimal("50000.0"), "XETHZUSD": Decimal("3000.00"),
                "XBTUSDT": Decimal("50000.0")}


def _spec(pair_id: str, pair: dict[str, Any]) -> MarketSpec:
    tick = Decimal(pair["tick_size"])
    step = Decimal(1).scaleb(-pair["lot_decimals"])
    return MarketSpec(
        symbol=pair_id, base=COMMON[pair["base"]], quote=COMMON[pair["quote"]], tick=tick,
        min_price=tick, max_price=Decimal(10000000), step=step,
        min_qty=Decimal(pair["ordermin"]), max_qty=Decimal(100000),
        market_min_qty=Decimal(0), market_max_qty=Decimal(100000),
        min_notional=Decimal(pair["costmin"]), max_notional=Decimal(1000000000),
        apply_min_to_market=True, apply_max_to_market=False,
        base_precision=pair["lot_decimals"], quote_precision=pair["pair_decimals"],
        order_types=("MARKET", "LIMIT"), info=pair)


def kraken_fixture() -> Fixture:
    return Fixture({pid: _spec(pid, p) for pid, p in PAIRS.items()}, dict(START_PRICES))


def kraken_keys(key_type: str) -> KeyMaterial:
    """A 56-character key and a base64 secret of 64 bytes, the shape Kraken issues."""
    if key_type not in ("", "hmac"):
        raise ValueError(f"unknown key_type {key_type!r} (kraken has only 'hmac')")
    return KeyMaterial(secrets.token_hex(28), base64.b64encode(secrets.token_bytes(64)).decode())
