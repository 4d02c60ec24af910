"""Pure pre-trade planning: a USD amount against a ccxt market's limits, before any HTTP call.

``plan_order(market, side, amount_usd, price, ...)`` returns a ``Plan``: either a market order
by quote amount (``kind="cost"``) or, when the exchange's rounding would make that spend less
than the minimum, a base-quantity order rounded UP to the next step (``kind="quantity"``) —
only when that stays within the user's max trade and funds. Otherwise it refuses, quoting the
exchange's own numbers ("kraken's minimum for BTC/USD is 0.0001 BTC ≈ $5.00 at the current
price; $2.00 is below it"). ``expected_cost`` is what the order will spend after rounding.

Exchanges buy ``floor(amount / price)`` to their quantity step for a quote order (a $2 buy of
BTC at $50,026 with a 0.00001 step gets 0.00003 BTC = $1.50), so the check is done on the
rounded quantity, not on the amount. ``minimum_amount`` is the smallest amount the exchange
accepts at a price: what the CLI and the dashboard offer before anything is sent.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from shared.minimums import (
    CENT,
    DECIMAL_PLACES,
    SIGNIFICANT_DIGITS,
    TICK_SIZE,
    Offer,
    ceil_to,
    dec,
    minimum_offer,
    pct,
    rule_for,
    step,
    truncate,
)

__all__ = ["DECIMAL_PLACES", "SIGNIFICANT_DIGITS", "TICK_SIZE", "Plan", "ceil_to", "check_order",
           "minimum_amount", "offer", "plan_order", "step", "truncate"]
USD_LIKE = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI"})


@dataclass(frozen=True)
class Plan:
    ok: bool
    reasons: tuple[str, ...] = ()
    quantity: Decimal | None = None  # the base quantity bought at ``price``, after rounding
    notes: tuple[str, ...] = field(default_factory=tuple)
    kind: Literal["cost", "quantity"] = "cost"
    cost: Decimal = Decimal(0)  # the quote amount sent (kind "cost")
    price: Decimal | None = None
    expected_cost: Decimal | None = None  # quantity × price: what the order spends


Decision = Plan  # the name the gateway's checks had


def _minimum(exchange: str, market: Mapping[str, Any], price: Decimal,
             precision_mode: int) -> tuple[Decimal, str]:
    """The exchange's smallest order at ``price`` in quote money, and the sentence naming it."""
    symbol, base, quote = _names(market)
    limits = market.get("limits") or {}
    cost_min, _ = _limit(limits, "cost")
    amount_min, _ = _limit(limits, "amount")
    lot = step((market.get("precision") or {}).get("amount"), precision_mode)
    qty_min = ceil_to(amount_min, lot) if amount_min and lot else amount_min
    by_qty = (qty_min or Decimal(0)) * price
    who = f"{exchange}'s minimum for {symbol}" if exchange else f"minimum order on {symbol}"
    if qty_min and by_qty >= (cost_min or Decimal(0)):
        return by_qty, (f"{who} is {qty(qty_min)} {base} ≈ {money(_cents(by_qty), quote)} "
                        "at the current price")
    return cost_min or Decimal(0), f"{who} is {money(cost_min or Decimal(0), quote)}"


def offer(market: Mapping[str, Any], price: Decimal, *, min_usd: Decimal = Decimal(0),
          exchange: str = "", precision_mode: int = TICK_SIZE) -> tuple[Offer, str]:
    """The smallest amount to offer at ``price`` (``shared.minimums``: fee included, rounded up
    to the exchange's cost step, with the price headroom) and the sentence that says why."""
    rule = rule_for(exchange, market, precision_mode)
    found = minimum_offer(rule, price, min_usd=min_usd)
    symbol, base, quote = _names(market)
    who = f"{exchange}'s minimum for {symbol}" if exchange else f"minimum order on {symbol}"
    fee = (f" after its {pct(rule.fee_rate)} % fee taken out of the amount"
           if rule.fee_in_quote and rule.fee_rate else "")
    if found.binding == "quantity":
        floor = max(rule.min_qty, rule.lot or Decimal(0))
        why = f"{who} is {qty(floor)} {base}{fee}"
    else:
        why = f"{who} is {money(max(rule.min_cost, min_usd), quote)} bought{fee}"
    why += (f"; {money(found.amount, quote)} is the smallest amount that buys it at up to "
            f"{money(_cents(found.price_up_to), quote)} ({pct(found.headroom)} % above "
            f"{money(price, quote)}) and spends at most {money(found.amount, quote)}")
    return found, why


def minimum_amount(market: Mapping[str, Any], price: Decimal, *, min_usd: Decimal = Decimal(0),
                   exchange: str = "", precision_mode: int = TICK_SIZE) -> tuple[Decimal, str]:
    """The offered amount of ``offer`` and its sentence."""
    found, why = offer(market, price, min_usd=min_usd, exchange=exchange,
                       precision_mode=precision_mode)
    return found.amount, why


def plan_order(market: Mapping[str, Any], side: str, amount_usd: Decimal, price: Decimal | None,
               precision_mode: int = TICK_SIZE, *, exchange: str = "",
               min_usd: Decimal | None = None, max_usd: Decimal | None = None,
               funds: Decimal | None = None) -> Plan:
    symbol, base, quote = _names(market)
    limits = market.get("limits") or {}
    reasons: list[str] = []
    notes: list[str] = []

    if amount_usd <= 0:
        return Plan(False, (f"amount must be positive; asked {money(amount_usd, quote)}",))
    if market.get("active") is False:
        reasons.append(f"{symbol} is not trading on the exchange right now")
    if str(side).lower() not in ("buy", "sell"):
        reasons.append(f"side must be buy or sell; asked {side!r}")

    cost_min, cost_max = _limit(limits, "cost")
    if cost_min is not None and amount_usd < cost_min:
        who = f"{exchange}'s minimum for {symbol}" if exchange else f"minimum order on {symbol}"
        reasons.append(f"{who} is {money(cost_min, quote)}; {money(amount_usd, quote)} is below it")
    if cost_max is not None and cost_max > 0 and amount_usd > cost_max:
        reasons.append(f"maximum order on {symbol} is {money(cost_max, quote)}; "
                       f"asked {money(amount_usd, quote)}")

    price_step = step((market.get("precision") or {}).get("price"), precision_mode)
    if price_step is not None and amount_usd % price_step != 0:
        reasons.append(f"{symbol} takes amounts in steps of {money(price_step, quote)}; "
                       f"asked {money(amount_usd, quote)}")

    if price is None or price <= 0:
        notes.append("no price known: lot size and quantity limits left to the exchange")
        return Plan(not reasons, tuple(reasons), None, tuple(notes), "cost", amount_usd)

    lot = step((market.get("precision") or {}).get("amount"), precision_mode)
    rule = rule_for(exchange, market, precision_mode)
    buy = str(side).lower() == "buy"
    quantity = rule.bought(amount_usd, price) if buy else truncate(amount_usd / price, lot)
    expected = rule.spend(amount_usd, price) if buy else quantity * price
    at = f"at {money(price, quote)}"
    kind: Literal["cost", "quantity"] = "cost"
    ex_min, ex_why = _minimum(exchange, market, price, precision_mode)
    if not reasons and ex_min > 0 and amount_usd < ex_min.quantize(CENT, rounding=ROUND_DOWN):
        reasons.append(f"{ex_why}; {money(amount_usd, quote)} is below it")
    elif not reasons and lot and buy:
        target = max(min_usd or Decimal(0), ex_min)
        if _cents(expected) < _cents(min_usd or Decimal(0)) or rule.refusal(amount_usd, price):
            up = max(ceil_to(target / price, lot), ceil_to(amount_usd / (price * rule.k), lot),
                     ceil_to(rule.min_qty, lot))
            up_cost = up * price * rule.k
            fee = (f" after its {pct(rule.fee_rate)} % fee taken out and"
                   if rule.fee_in_quote and rule.fee_rate else " after")
            floor = max(rule.min_qty, lot)
            least = (f"{qty(floor)} {base} ({money(_cents(floor * price), quote)})"
                     if floor * price > target else money(_cents(target), quote))
            why = (f"{money(amount_usd, quote)} buys {qty(quantity)} {base} ≈ "
                   f"{money(_cents(quantity * price), quote)}{fee} {exchange or 'the exchange'}'s "
                   f"{qty(lot)} {base} step {at}, below the minimum {least}")
            if max_usd is not None and up_cost > max_usd:
                reasons.append(f"{why}; the next step, {qty(up)} {base} ≈ "
                               f"{money(_cents(up_cost), quote)}, is above the max trade "
                               f"{money(max_usd, quote)}")
            elif funds is not None and up_cost > funds:
                reasons.append(f"{why}; the next step, {qty(up)} {base} ≈ "
                               f"{money(_cents(up_cost), quote)}, is more than the "
                               f"{money(funds, quote)} available")
            else:
                notes.append(f"{why}; buying {qty(up)} {base} ≈ {money(_cents(up_cost), quote)} "
                             "instead (rounded up to the next step)")
                quantity, expected, kind = up, up_cost, "quantity"

    amount_min, amount_max = _limit(limits, "amount")
    if not reasons and lot and quantity <= 0:
        reasons.append(f"{money(amount_usd, quote)} buys less than one lot "
                       f"({qty(lot)} {base}) of {symbol} {at}")
    if amount_max is not None and amount_max > 0 and quantity > amount_max:
        reasons.append(f"maximum quantity on {symbol} is {qty(amount_max)} {base}; "
                       f"asked {qty(quantity)} {base} ({money(amount_usd, quote)} {at})")
    _, market_max = _limit(limits, "market")
    if market_max is not None and market_max > 0 and quantity > market_max:
        reasons.append(f"maximum market-order quantity on {symbol} is {qty(market_max)} "
                       f"{base}; asked {qty(quantity)} {base}")
    if amount_min is not None and not reasons and quantity < amount_min:
        reasons.append(f"minimum quantity on {symbol} is {qty(amount_min)} {base}; "
                       f"asked {qty(quantity)} {base} ({money(amount_usd, quote)} {at})")
    return Plan(not reasons, tuple(reasons), quantity, tuple(notes), kind, amount_usd, price,
                expected)


def check_order(market: Mapping[str, Any], side: str, amount_usd: Decimal,
                price: Decimal | None, precision_mode: int = TICK_SIZE, **kw: Any) -> Plan:
    return plan_order(market, side, amount_usd, price, precision_mode, **kw)


def _names(market: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(market.get("symbol") or market.get("id") or "?"), str(market.get("base") or ""),
            str(market.get("quote") or ""))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


def _limit(limits: Mapping[str, Any], name: str) -> tuple[Decimal | None, Decimal | None]:
    entry = limits.get(name) or {}
    return dec(entry.get("min")), dec(entry.get("max"))


def money(value: Decimal, quote: str = "USD") -> str:
    text = f"{value:,.2f}" if _places(value) <= 2 else f"{value.normalize():,f}"
    return f"${text}" if quote.upper() in USD_LIKE or not quote else f"{text} {quote}"


def qty(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _places(value: Decimal) -> int:
    exp = value.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0
