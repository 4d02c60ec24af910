"""Pure pre-trade checks: a USD amount against a ccxt market's limits, before any HTTP call.

``check_order(market, side, amount_usd, price)`` returns a ``Decision`` whose reasons quote
the exchange's own numbers ("minimum order on BTC/USDT is $10.00; asked $2.00"). The amount is
spent as a quote-quantity market order, so the checks are: market active, cost (notional)
min/max, the amount's precision (ccxt truncates quoteOrderQty to the price tick), and, when a
price is known, the base quantity it buys against the lot size and the amount/market limits.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

TICK_SIZE = 4  # ccxt precision modes
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
USD_LIKE = frozenset({"USD", "USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI"})


@dataclass(frozen=True)
class Decision:
    ok: bool
    reasons: tuple[str, ...] = ()
    quantity: Decimal | None = None  # the base quantity the amount buys at ``price``, if known
    notes: tuple[str, ...] = field(default_factory=tuple)


def check_order(market: Mapping[str, Any], side: str, amount_usd: Decimal,
                price: Decimal | None, precision_mode: int = TICK_SIZE) -> Decision:
    symbol = str(market.get("symbol") or market.get("id") or "?")
    quote = str(market.get("quote") or "")
    base = str(market.get("base") or "")
    limits = market.get("limits") or {}
    reasons: list[str] = []
    notes: list[str] = []

    if amount_usd <= 0:
        return Decision(False, (f"amount must be positive; asked {money(amount_usd, quote)}",))
    if market.get("active") is False:
        reasons.append(f"{symbol} is not trading on the exchange right now")
    if str(side).lower() not in ("buy", "sell"):
        reasons.append(f"side must be buy or sell; asked {side!r}")

    cost_min, cost_max = _limit(limits, "cost")
    if cost_min is not None and amount_usd < cost_min:
        reasons.append(f"minimum order on {symbol} is {money(cost_min, quote)}; "
                       f"asked {money(amount_usd, quote)}")
    if cost_max is not None and cost_max > 0 and amount_usd > cost_max:
        reasons.append(f"maximum order on {symbol} is {money(cost_max, quote)}; "
                       f"asked {money(amount_usd, quote)}")

    price_step = step((market.get("precision") or {}).get("price"), precision_mode)
    if price_step is not None and amount_usd % price_step != 0:
        reasons.append(f"{symbol} takes amounts in steps of {money(price_step, quote)}; "
                       f"asked {money(amount_usd, quote)}")

    quantity: Decimal | None = None
    if price is None or price <= 0:
        notes.append("no price known: lot size and quantity limits left to the exchange")
    else:
        raw = amount_usd / price
        lot = step((market.get("precision") or {}).get("amount"), precision_mode)
        quantity = truncate(raw, lot) if lot else raw
        at = f"at {money(price, quote)}"
        amount_min, amount_max = _limit(limits, "amount")
        if lot and quantity <= 0:
            reasons.append(f"{money(amount_usd, quote)} buys less than one lot "
                           f"({qty(lot)} {base}) of {symbol} {at}")
        elif amount_min is not None and quantity < amount_min:
            reasons.append(f"minimum quantity on {symbol} is {qty(amount_min)} {base} "
                           f"(about {money(amount_min * price, quote)} {at}); "
                           f"asked {qty(quantity)} {base} ({money(amount_usd, quote)})")
        if amount_max is not None and amount_max > 0 and quantity > amount_max:
            reasons.append(f"maximum quantity on {symbol} is {qty(amount_max)} {base}; "
                           f"asked {qty(quantity)} {base} ({money(amount_usd, quote)} {at})")
        _, market_max = _limit(limits, "market")
        if market_max is not None and market_max > 0 and quantity > market_max:
            reasons.append(f"maximum market-order quantity on {symbol} is {qty(market_max)} "
                           f"{base}; asked {qty(quantity)} {base}")
    return Decision(not reasons, tuple(reasons), quantity, tuple(notes))


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
