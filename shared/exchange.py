"""The ccxt client factory and symbol resolution through the exchange's own market data.

``make_exchange`` hands the work to the exchange's adapter (``shared.exchanges``): its ccxt
options, URL pointing (``PIGGY_<EXCHANGE>_URL``), testnet mode and rate limiter.
"""
from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Any

from shared.exchanges import EXCHANGES, adapter
from shared.exchanges.base import point_to
from shared.settings import ExchangeSettings
from shared.vault import ApiKeyPair

SUPPORTED = EXCHANGES
__all__ = ["SUPPORTED", "UnknownSymbol", "make_exchange", "point_to", "resolve_symbol",
           "to_decimal"]


class UnknownSymbol(ValueError):
    def __init__(self, symbol: str, exchange: str, close: list[str]) -> None:
        hint = f"; close matches: {', '.join(close)}" if close else ""
        super().__init__(f"unknown symbol {symbol!r} on {exchange}{hint}")
        self.close = close


def make_exchange(exchange: str, settings: ExchangeSettings, keys: ApiKeyPair | None = None) -> Any:
    """A ccxt async instance for ``exchange``; the caller owns it and must ``await close()``."""
    return adapter(exchange).make_client(settings, keys)


def resolve_symbol(markets: dict[str, Any], markets_by_id: dict[str, Any], symbol: str,
                   exchange: str) -> dict[str, Any]:
    """The market for a unified (``BTC/USDT``) or exchange-native (``BTCUSDT``) symbol."""
    text = symbol.strip()
    if text in markets:
        return markets[text]
    for candidate in (text, text.upper()):
        found = markets_by_id.get(candidate)
        if found:
            return found[0] if isinstance(found, list) else found
    if text.upper() in markets:
        return markets[text.upper()]
    names = list(markets) + list(markets_by_id)
    close = difflib.get_close_matches(text.upper(), names, n=3, cutoff=0.5)
    raise UnknownSymbol(symbol, exchange, close)


def to_decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)
