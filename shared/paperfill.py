"""Paper fills that predict live ones: the same order the gateway would send, filled by the
exchange's own fee and rounding rules. Pure: market rules, amount and price in; a fill out.

What the live path does, step by step, and what this module repeats:

1. The gateway plans the order from the ccxt market (``shared.placement.plan_order``): a buy
   by quote amount, or by base quantity rounded up to the next lot step when the amount would
   buy less than the minimum; a sell of ``amount / price`` truncated to the lot step.
2. The exchange sizes a buy by quote amount. When its buy fee is charged in the quote
   currency (ccxt ``feeSide`` ``quote``/``give``: Kraken ``viqc``, Coinbase ``quote_size``) the
   amount covers cost and fee: ``floor(amount / (price × (1 + rate)))`` to the lot step. When
   the fee is charged in what is received (``feeSide`` ``get``: Binance ``quoteOrderQty``) it is
   ``floor(amount / price)``. Coinbase sends a quantity buy as its cost too
   (``shared/exchanges/coinbase.py``), so the same sizing applies.
3. The fill: cost = ``price × quantity`` to 8 places; fee = ``cost × rate`` (quote) or
   ``received × rate`` (base), to 8 places rounding half up — the sandbox's ``fee_for``.

The taker rate and fee side come from ccxt's market (``taker``, ``feeSide``), which for the
sandbox's venues are the rates the sandbox charges (binance 0.1 % in what is received,
kraken 0.26 % and coinbase 0.6 % in the quote currency). Without cached market rules the
fill uses ``DEFAULT_RULES`` for the exchange (fee only, 8-place lots) and says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from shared.placement import TICK_SIZE, plan_order, step

Q8 = Decimal("0.00000001")
QUANTITY_BUYS_BY_COST = frozenset({"coinbase"})  # see shared/exchanges/coinbase.py
# The venues' schedules when no market data is cached (the sandbox's venues, sandbox/venues.py).
DEFAULT_RULES: dict[str, tuple[Decimal, str]] = {
    "binance": (Decimal("0.001"), "get"), "binanceus": (Decimal("0.001"), "get"),
    "kraken": (Decimal("0.0026"), "quote"), "coinbase": (Decimal("0.006"), "quote"),
}


@dataclass(frozen=True)
class MarketRules:
    """What a paper fill needs of one ccxt market; cached as JSON next to its price."""

    exchange: str
    market: dict[str, Any]  # symbol, base, quote, precision, limits, active, taker, feeSide
    precision_mode: int = TICK_SIZE

    @classmethod
    def from_ccxt(cls, exchange: str, market: dict[str, Any],
                  precision_mode: int = TICK_SIZE) -> MarketRules:
        keep = ("symbol", "id", "base", "quote", "precision", "limits", "active", "taker",
                "feeSide")
        return cls(exchange, {k: market.get(k) for k in keep}, precision_mode)

    def to_json(self) -> str:
        return json.dumps({"exchange": self.exchange, "market": self.market,
                           "precision_mode": self.precision_mode}, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> MarketRules:
        doc = json.loads(text)
        return cls(str(doc["exchange"]), dict(doc["market"]), int(doc["precision_mode"]))

    @property
    def fee_rate(self) -> Decimal:
        taker = self.market.get("taker")
        if taker is None:
            return DEFAULT_RULES.get(self.exchange, (Decimal("0.001"), "get"))[0]
        return Decimal(str(taker))

    @property
    def fee_side(self) -> str:
        side = self.market.get("feeSide")
        return str(side) if side else "quote"  # ccxt's own default (calculate_fee)

    @property
    def lot(self) -> Decimal:
        return step((self.market.get("precision") or {}).get("amount"),
                    self.precision_mode) or Q8


def default_rules(exchange: str, symbol: str) -> MarketRules:
    """The exchange's fee schedule for ``symbol`` with 8-place lots and no limits."""
    rate, side = DEFAULT_RULES.get(exchange, (Decimal("0.001"), "get"))
    base, _, quote = symbol.partition("/")
    return MarketRules(exchange, {"symbol": symbol, "base": base, "quote": quote.split(":")[0],
                                  "precision": {"amount": str(Q8)}, "limits": {},
                                  "taker": str(rate), "feeSide": side})


@dataclass(frozen=True)
class PaperFill:
    price: Decimal
    filled: Decimal  # base quantity traded (the fee in base, if any, is not yet taken out)
    cost: Decimal  # quote value of the fill, before the fee
    fee: Decimal
    fee_currency: str
    notes: tuple[str, ...] = ()


def fee_in_quote(rules: MarketRules, side: str) -> bool:
    """Does this side pay its fee in the quote currency (else in the base)?"""
    fs = rules.fee_side
    if fs == "get":
        return side == "sell"
    if fs == "give":
        return side == "buy"
    return fs != "base"


def _floor(value: Decimal, lot: Decimal) -> Decimal:
    return (value / lot).to_integral_value(ROUND_DOWN) * lot


def fill(rules: MarketRules, side: str, amount_usd: Decimal, price: Decimal, *,
         min_usd: Decimal | None = None, max_usd: Decimal | None = None) -> PaperFill:
    """The fill the exchange would give a market order for ``amount_usd`` at ``price``."""
    side = side.lower()
    rate, lot, notes = rules.fee_rate, rules.lot, []
    plan = plan_order(rules.market, side, amount_usd, price, rules.precision_mode,
                      exchange=rules.exchange, min_usd=min_usd, max_usd=max_usd)
    if not plan.ok:
        notes.append("live, the exchange would refuse this order: " + "; ".join(plan.reasons))
    notes.extend(plan.notes)
    quote_fee = fee_in_quote(rules, side)
    if side == "sell":
        quantity = plan.quantity if plan.ok and plan.quantity is not None else (
            _floor(amount_usd / price, lot))
    else:
        by_cost = plan.kind == "cost" or rules.exchange in QUANTITY_BUYS_BY_COST
        spend = amount_usd if plan.kind == "cost" or plan.quantity is None else (
            plan.quantity * price)
        if by_cost or not plan.ok:
            quantity = _floor(spend / (price * (1 + rate) if quote_fee else price), lot)
        else:
            quantity = plan.quantity or Decimal(0)
    cost = (price * quantity).quantize(Q8)
    base, quote = str(rules.market.get("base") or ""), str(rules.market.get("quote") or "")
    charged = cost if quote_fee else quantity
    fee = (charged * rate).quantize(Q8, ROUND_HALF_UP)
    return PaperFill(price, quantity, cost, fee, quote if quote_fee else base, tuple(notes))
