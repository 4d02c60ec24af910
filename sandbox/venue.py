"""What makes one venue of the sandbox different from another: markets, fees, key material.

Every venue (binanceus, binance, kraken, coinbase) runs the same core (accounts, balances,
matching, faults, admin API) with its own ``Venue`` settings; its dialect module speaks the
exchange's wire format over that core.
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from sandbox.auth import KEY_RE
from sandbox.market import Fixture


@dataclass(frozen=True)
class KeyMaterial:
    """A new key as the venue issues it: what the user pastes into ccxt, plus the public half
    the sandbox verifies with (Coinbase JWT keys; empty for shared-secret keys)."""

    api_key: str
    secret: str
    public_key: str = ""


def hex_keys(key_type: str) -> KeyMaterial:
    if key_type not in ("", "hmac"):
        raise ValueError(f"unknown key_type {key_type!r} (this venue has only 'hmac')")
    return KeyMaterial(secrets.token_hex(32), secrets.token_hex(32))


@dataclass(frozen=True)
class Venue:
    name: str
    fixture: Callable[[], Fixture]
    fee_rate: Decimal = Decimal("0.001")
    fee_in_quote: bool = False
    key_re: re.Pattern[str] = KEY_RE
    new_key: Callable[[str], KeyMaterial] = hex_keys
    fault_status: dict[str, int] = field(default_factory=lambda: {
        "http5xx": 503, "rate_limit": 429})
