"""The exchanges CryptoPiggy trades on: the one list, and the adapter of each.

``Exchange``/``EXCHANGES`` are the only place the names are listed; importing them costs
nothing (no ccxt). ``adapter(name)`` imports the exchange's module on first use. Adding an
exchange = one adapter module here (a subclass of ``base.ExchangeAdapter``) + its name below.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from shared.exchanges.base import ExchangeAdapter

Exchange = Literal["binanceus", "binance", "kraken", "coinbase"]
EXCHANGES: tuple[str, ...] = get_args(Exchange)
DEFAULT_EXCHANGE: Exchange = "binanceus"

# the pair a test buy uses on each exchange (its quote is what a sandbox key is funded in)
TEST_SYMBOLS: dict[str, str] = {"binanceus": "BTC/USDT", "binance": "BTC/USDT",
                                "kraken": "BTC/USD", "coinbase": "BTC/USD"}

# exchange name → module in this package that holds its adapter (one module per wire dialect)
_MODULES = {"binanceus": "binance", "binance": "binance", "kraken": "kraken",
            "coinbase": "coinbase"}
_cache: dict[str, ExchangeAdapter] = {}


class UnsupportedExchange(ValueError):
    def __init__(self, name: object) -> None:
        super().__init__(f"unsupported exchange {name!r}; one of {', '.join(EXCHANGES)}")


def check(name: str) -> str:
    """``name`` if it is a supported exchange, else ``UnsupportedExchange`` naming the list."""
    if name not in EXCHANGES:
        raise UnsupportedExchange(name)
    return name


def adapter(name: str) -> ExchangeAdapter:
    """The adapter of exchange ``name`` (made once)."""
    found = _cache.get(name)
    if found is None:
        module = importlib.import_module(f"shared.exchanges.{_MODULES[check(name)]}")
        found = _cache[name] = module.make(name)
    return found
