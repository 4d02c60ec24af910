"""Money arithmetic for risk limits and paper fills. Pure; amounts are Decimal."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

MICROS = Decimal(1000000)
PAPER_FEE_RATE = Decimal("0.001")


def to_micros(usd: Decimal) -> int:
    """USD as integer micro-dollars, so Redis can add them atomically without float error."""
    return int((usd * MICROS).to_integral_value(rounding=ROUND_DOWN))


def from_micros(micros: int) -> Decimal:
    return Decimal(micros) / MICROS


def spend_key(user_id: str, now: datetime) -> str:
    return f"piggy:spend:{user_id}:{now.strftime('%Y%m%d')}"


@dataclass(frozen=True)
class PaperFill:
    price: Decimal
    filled: Decimal
    cost: Decimal
    fee: Decimal


def paper_fill(amount_usd: Decimal, price: Decimal, side: str) -> PaperFill:
    """A simulated market fill: spend ``amount_usd`` at ``price`` with a 0.1 % fee in the
    received asset (base on a buy, quote on a sell), like the exchange charges."""
    quantity = (amount_usd / price).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
    if side == "buy":
        fee = (quantity * PAPER_FEE_RATE).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
    else:
        fee = (amount_usd * PAPER_FEE_RATE).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
    return PaperFill(price=price, filled=quantity, cost=amount_usd, fee=fee)
