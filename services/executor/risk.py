"""Money arithmetic for risk limits. Pure; amounts are Decimal. (Paper fills: shared/paperfill.py.)"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

MICROS = Decimal(1000000)


def to_micros(usd: Decimal) -> int:
    """USD as integer micro-dollars, so Redis can add them atomically without float error."""
    return int((usd * MICROS).to_integral_value(rounding=ROUND_DOWN))


def from_micros(micros: int) -> Decimal:
    return Decimal(micros) / MICROS


def spend_key(user_id: str, now: datetime) -> str:
    return f"piggy:spend:{user_id}:{now.strftime('%Y%m%d')}"
