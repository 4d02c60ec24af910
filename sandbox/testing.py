"""Helpers for tests and scripts: point an unmodified ccxt ``binanceus`` at a sandbox.

Only ``urls['api']`` is rewritten (every REST base, so nothing can leave loopback);
``set_sandbox_mode`` is never used. Rate limiting is off by default for speed.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxta


def point_ccxt(exchange: Any, url: str) -> Any:
    """Rewrite every REST base in ``exchange.urls['api']`` to ``url`` + the original path."""
    api = exchange.urls["api"]
    for name, value in list(api.items()):
        if isinstance(value, str):
            api[name] = url.rstrip("/") + urlsplit(value).path
    return exchange


def binanceus(url: str, key: Mapping[str, Any] | None = None, *, sync: bool = False,
              **config: Any) -> Any:
    """A ccxt ``binanceus`` (async unless ``sync``) for ``url``, signed with ``key``'s
    ``api_key``/``secret`` (as returned by ``create_key``). Async instances must be closed."""
    options: dict[str, Any] = {"enableRateLimit": False, **config}
    if key is not None:
        options |= {"apiKey": key["api_key"], "secret": key["secret"]}
    module = ccxt if sync else ccxta
    return point_ccxt(module.binanceus(options), url)
