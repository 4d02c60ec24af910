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
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Any, Literal

TICK_SIZE = 4  # ccxt precision modes
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
USD_LIKE = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI"})
CENT = Decimal("0.01")


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


def minimum_amount(market: Mapping[str, Any], price: Decimal, *, min_usd: Decimal = Decimal(0),
                   exchange: str = "", precision_mode: int = TICK_SIZE) -> tuple[Decimal, str]:
    """The smallest amount (whole cents, never below ``min_usd``) that ``plan_order`` accepts at
    ``price``, and the sentence that says why."""
    floor, why = _minimum(exchange, market, price, precision_mode)
    tick = step((market.get("precision") or {}).get("price"), precision_mode) or CENT
    amount = ceil_to(max(min_usd, floor), max(tick, CENT)).quantize(CENT)
    return amount, why


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
    quantity = truncate(amount_usd / price, lot) if lot else amount_usd / price
    expected = quantity * price
    at = f"at {money(price, quote)}"
    kind: Literal["cost", "quantity"] = "cost"
    ex_min, ex_why = _minimum(exchange, market, price, precision_mode)
    if not reasons and ex_min > 0 and amount_usd < ex_min.quantize(CENT, rounding=ROUND_DOWN):
        reasons.append(f"{ex_why}; {money(amount_usd, quote)} is below it")
    elif not reasons and lot and str(side).lower() == "buy":
        target = max(min_usd or Decimal(0), ex_min)
        amount_min, _ = _limit(limits, "amount")
        if (_cents(expected) < _cents(target) or quantity <= 0
                or (amount_min is not None and quantity < amount_min)):
            up = max(ceil_to(target / price, lot), ceil_to(amount_usd / price, lot))
            up_cost = up * price
            why = (f"{money(amount_usd, quote)} buys {qty(quantity)} {base} ≈ "
                   f"{money(_cents(expected), quote)} after {exchange or 'the exchange'}'s "
                   f"{qty(lot)} {base} step {at}, below the minimum {money(_cents(target), quote)}")
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


def ceil_to(value: Decimal, lot: Decimal | None) -> Decimal:
    if not lot:
        return value
    return (value / lot).to_integral_value(rounding=ROUND_CEILING) * lot


def _limit(limits: Mapping[str, Any], name: str) -> tuple[Decimal | None, Decimal | None]:
    entry = limits.get(name) or {}
    return dec(entry.get("min")), dec(entry.get("max"))


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


def truncate(value: Decimal, lot: Decimal) -> Decimal:
    return (value / lot).to_integral_value(rounding=ROUND_DOWN) * lot


def money(value: Decimal, quote: str = "USD") -> str:
    text = f"{value:,.2f}" if _places(value) <= 2 else f"{value.normalize():,f}"
    return f"${text}" if quote.upper() in USD_LIKE or not quote else f"{text} {quote}"


def qty(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _places(value: Decimal) -> int:
    exp = value.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0
