"""How each exchange decides whether a quote-sized market buy is big enough, and the smallest
amount the product offers: one rule, written in ``docs/exchanges.md`` and followed by the
sandbox (``sandbox/rules.py``) and by the offer (``GET /api/minimum``, ``piggy test-buy``).

A quote-sized buy of amount ``C`` at price ``P`` on an exchange (pure, no I/O):

1. ccxt sends ``C`` truncated to the market's price precision (``cost_step``, at least a cent).
2. The exchange buys ``q = floor(C / (P × k), lot)`` where ``k = 1 + taker fee`` when the fee is
   taken out of the quote amount (kraken ``viqc``, coinbase ``quote_size``) and ``k = 1`` when
   it is taken from the asset bought (binance).
3. It accepts the order when ``C ≥ min cost``, ``q ≥ max(min quantity, one lot)`` and — the
   stricter reading where the exchanges' documents leave it open — ``q × P ≥ min cost`` (the
   notional actually bought, fee left out).
4. It spends ``q × P × k ≤ C``.

The offer is the smallest ``C`` on the cost grid that is accepted at every price up to
``P × (1 + HEADROOM)``: the price may move between the offer and the order. Since
``floor(x, lot) > x − lot``, that holds when ``C ≥ (q_min + lot) × P_high × k`` and
``C ≥ (min cost + lot × P_high) × k``; lower prices only buy more.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Any

TICK_SIZE = 4  # ccxt precision modes
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
CENT = Decimal("0.01")
HEADROOM = Decimal("0.01")  # the offer holds while the price rises at most 1 % before the order
# Exchanges whose quote-sized market buy pays the fee out of the quote amount (docs/exchanges.md)
FEE_IN_QUOTE = frozenset({"kraken", "coinbase"})


def dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def step(precision: Any, precision_mode: int = TICK_SIZE) -> Decimal | None:
    """The smallest increment a ccxt precision value allows, as a Decimal."""
    value = dec(precision)
    if value is None or value <= 0:
        return None
    if precision_mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(value))
    if precision_mode == SIGNIFICANT_DIGITS:
        return None  # depends on the number itself; left to the exchange
    return value


def ceil_to(value: Decimal, lot: Decimal | None) -> Decimal:
    if not lot:
        return value
    return (value / lot).to_integral_value(rounding=ROUND_CEILING) * lot


def truncate(value: Decimal, lot: Decimal | None) -> Decimal:
    if not lot:
        return value
    return (value / lot).to_integral_value(rounding=ROUND_DOWN) * lot


@dataclass(frozen=True)
class BuyRule:
    """One exchange's rule for a quote-sized market buy on one market."""

    cost_step: Decimal
    lot: Decimal | None
    min_qty: Decimal
    min_cost: Decimal
    fee_rate: Decimal
    fee_in_quote: bool

    @property
    def k(self) -> Decimal:
        return 1 + self.fee_rate if self.fee_in_quote else Decimal(1)

    def sent(self, amount: Decimal) -> Decimal:
        """What ccxt sends for ``amount`` (truncated to the cost step)."""
        return truncate(amount, self.cost_step)

    def bought(self, amount: Decimal, price: Decimal) -> Decimal:
        return truncate(self.sent(amount) / (price * self.k), self.lot)

    def spend(self, amount: Decimal, price: Decimal) -> Decimal:
        """Quote money that leaves the account, fee included when paid in quote."""
        return self.bought(amount, price) * price * self.k

    def refusal(self, amount: Decimal, price: Decimal) -> str:
        """Empty when the exchange accepts the buy; else which minimum it fails."""
        sent, qty = self.sent(amount), self.bought(amount, price)
        if sent < self.min_cost:
            return "cost"
        if qty <= 0 or qty < self.min_qty:
            return "quantity"
        if qty * price < self.min_cost:
            return "notional"
        return ""


def rule_for(exchange: str, market: Mapping[str, Any], precision_mode: int = TICK_SIZE
             ) -> BuyRule:
    """The rule of ``exchange`` for a ccxt market dict (its limits, precision and taker fee)."""
    limits = market.get("limits") or {}
    precision = market.get("precision") or {}
    price_step = step(precision.get("price"), precision_mode)
    return BuyRule(cost_step=max(price_step or CENT, CENT),
                   lot=step(precision.get("amount"), precision_mode),
                   min_qty=dec((limits.get("amount") or {}).get("min")) or Decimal(0),
                   min_cost=dec((limits.get("cost") or {}).get("min")) or Decimal(0),
                   fee_rate=dec(market.get("taker")) or Decimal(0),
                   fee_in_quote=exchange in FEE_IN_QUOTE)


@dataclass(frozen=True)
class Offer:
    """The smallest amount to offer: it spends at most ``amount`` (fee included) and is
    accepted while the price stays at or below ``price_up_to``."""

    amount: Decimal
    price: Decimal
    price_up_to: Decimal
    headroom: Decimal
    binding: str  # "quantity" | "cost": which of the exchange's minimums decides


def minimum_offer(rule: BuyRule, price: Decimal, *, min_usd: Decimal = Decimal(0),
                  headroom: Decimal = HEADROOM) -> Offer:
    """The smallest accepted amount at every price up to ``price × (1 + headroom)``, rounded
    up to the cost step; never below ``min_usd`` worth of what is bought."""
    high = price * (1 + headroom)
    lot = rule.lot or Decimal(0)
    q_min = max(rule.min_qty, lot)
    by_qty = (q_min + lot) * high * rule.k
    by_cost = (max(rule.min_cost, min_usd) + lot * high) * rule.k
    amount = ceil_to(max(by_qty, by_cost, CENT), rule.cost_step)
    while rule.refusal(amount, high) or rule.refusal(amount, price):  # never expected
        amount += rule.cost_step
    return Offer(amount.quantize(CENT), price, high, headroom,
                 "quantity" if by_qty >= by_cost else "cost")


def pct(rate: Decimal) -> str:
    """``0.0026`` → ``"0.26"``."""
    return format((rate * 100).normalize(), "f")
