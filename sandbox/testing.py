"""Helpers for tests and scripts: point an unmodified ccxt exchange at a sandbox venue.

Only ``urls['api']`` is rewritten (every REST base, so nothing can leave loopback):
each entry becomes ``<venue base URL>`` + the original URL's path, where the venue base URL
is ``<sandbox url>/<venue>`` (``binanceus`` also answers at the bare sandbox url).
``set_sandbox_mode`` is never used. Rate limiting is off by default for speed.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxta

# ccxt binance (.com) options that keep it on spot endpoints only (no sapi/fapi/dapi calls).
BINANCE_SPOT_OPTIONS: dict[str, Any] = {"fetchMarkets": {"types": ["spot"]},
                                        "fetchCurrencies": False, "fetchMargins": False}


def point_ccxt(exchange: Any, url: str) -> Any:
    """Rewrite every REST base in ``exchange.urls['api']`` to ``url`` + the original path."""
    api = exchange.urls["api"]
    for name, value in list(api.items()):
        if isinstance(value, str):
            api[name] = url.rstrip("/") + urlsplit(value).path
    return exchange


def venue_exchange(venue: str, url: str, key: Mapping[str, Any] | None = None, *,
                   sync: bool = False, prefixed: bool = True, **config: Any) -> Any:
    """A ccxt ``venue`` (async unless ``sync``) for the sandbox at ``url``, signed with
    ``key``'s ``api_key``/``secret`` (as returned by ``create_key``). With ``prefixed`` (the
    default) ``url`` is the sandbox root and ``/<venue>`` is appended; else ``url`` is already
    the venue's base URL. Async instances must be closed."""
    options: dict[str, Any] = {"enableRateLimit": False, **config}
    if venue == "binance":
        options["options"] = {**BINANCE_SPOT_OPTIONS, **options.get("options", {})}
    if key is not None:
        options |= {"apiKey": key["api_key"], "secret": key["secret"]}
    module = ccxt if sync else ccxta
    base = f"{url.rstrip('/')}/{venue}" if prefixed else url
    return point_ccxt(getattr(module, venue)(options), base)


def binanceus(url: str, key: Mapping[str, Any] | None = None, *, sync: bool = False,
              **config: Any) -> Any:
    """A ccxt ``binanceus`` for the sandbox at ``url`` (its root paths serve binanceus)."""
    return venue_exchange("binanceus", url, key, sync=sync, prefixed=False, **config)


def binance(url: str, key: Mapping[str, Any] | None = None, *, sync: bool = False,
            **config: Any) -> Any:
    """A ccxt ``binance`` (binance.com, spot-only options) for the sandbox at ``url``."""
    return venue_exchange("binance", url, key, sync=sync, **config)


def kraken(url: str, key: Mapping[str, Any] | None = None, *, sync: bool = False,
           **config: Any) -> Any:
    """A ccxt ``kraken`` for the sandbox at ``url``."""
    return venue_exchange("kraken", url, key, sync=sync, **config)


def coinbase(url: str, key: Mapping[str, Any] | None = None, *, sync: bool = False,
             **config: Any) -> Any:
    """A ccxt ``coinbase`` (Advanced Trade) for the sandbox at ``url``."""
    return venue_exchange("coinbase", url, key, sync=sync, **config)
