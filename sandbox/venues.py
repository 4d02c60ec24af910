"""The venues one sandbox serves, by name; the URL prefix of each is ``/<name>``.

The root paths (no prefix) serve ``binanceus`` too, as before venues existed.
"""
from __future__ import annotations

import re
from decimal import Decimal

from sandbox.dialects import coinbase_keys, kraken_markets
from sandbox.dialects.coinbase_markets import coinbase_fixture
from sandbox.market import FIXTURE, load_fixture
from sandbox.venue import Venue

BINANCE_FIXTURE = FIXTURE.with_name("markets_binance.json")

VENUES: dict[str, Venue] = {v.name: v for v in (
    Venue("binanceus", lambda: load_fixture(FIXTURE)),
    Venue("binance", lambda: load_fixture(BINANCE_FIXTURE)),
    Venue("kraken", kraken_markets.kraken_fixture, fee_rate=Decimal("0.0026"), fee_in_quote=True,
          new_key=kraken_markets.kraken_keys,
          fault_status={"http5xx": 503, "rate_limit": 200}),
    Venue("coinbase", coinbase_fixture, fee_rate=Decimal("0.006"), fee_in_quote=True,
          key_re=re.compile(r"^[A-Za-z0-9/_-]{1,200}$"), new_key=coinbase_keys.new_key),
)}
DEFAULT = "binanceus"


def venue(name: str) -> Venue:
    try:
        return VENUES[name]
    except KeyError:
        raise ValueError(f"unknown venue {name!r}; one of {sorted(VENUES)}") from None
