"""The ccxt client factory and symbol resolution through the exchange's own market data.

ccxt is used unmodified: only ``urls['api']`` is rewritten when an exchange is configured at a
local URL (the sandbox), and then every REST base is rewritten so nothing leaves loopback.
"""
from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxta

from shared.settings import ExchangeSettings
from shared.vault import ApiKeyPair

SUPPORTED = ("binanceus", "binance", "kraken", "coinbase")


class UnknownSymbol(ValueError):
    def __init__(self, symbol: str, exchange: str, close: list[str]) -> None:
        hint = f"; close matches: {', '.join(close)}" if close else ""
        super().__init__(f"unknown symbol {symbol!r} on {exchange}{hint}")
        self.close = close


def make_exchange(exchange: str, settings: ExchangeSettings, keys: ApiKeyPair | None = None) -> Any:
    """A ccxt async instance for ``exchange``; the caller owns it and must ``await close()``."""
    if exchange not in SUPPORTED:
        raise ValueError(f"unsupported exchange {exchange!r}; one of {', '.join(SUPPORTED)}")
    config: dict[str, Any] = {"enableRateLimit": False, "timeout": settings.exchange_timeout_ms}
    if keys is not None:
        config |= {"apiKey": keys.api_key, "secret": keys.secret}
    client = getattr(ccxta, exchange)(config)
    base = settings.base_url(exchange)
    if base:
        point_to(client, base)
    return client


def point_to(client: Any, base: str) -> Any:
    """Rewrite every REST base URL of ``client`` to ``base`` + the original path."""
    base = base.rstrip("/")
    api = client.urls["api"]
    for name, url in list(api.items()):
        if isinstance(url, str):
            api[name] = base + urlsplit(url).path
    return client


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
