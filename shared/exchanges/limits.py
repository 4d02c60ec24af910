"""Each exchange's request limits as the product budgets them (pure; no I/O).

ccxt declares an exchange's request budget as ``rateLimit`` (milliseconds per cost unit) and a
``cost`` per endpoint in its API table (binance: 0.2 × the endpoint's request weight on
``api/v3``; kraken: 3 for a private query, 0 for ``AddOrder``; coinbase: 1 per private call,
3 per public market call). ``limits_of`` turns that into the limits below, keyed by what the
exchange counts against (the source IP or the API key), plus what ccxt does not declare:
binance's order counts and kraken's counter size and trading counter, from the exchanges'
own documentation (docs/rate-budget.md lists them with their sources).

A limit is a fixed ``window`` (at most ``amount`` in any ``window_s``) or a decaying
``counter`` (kraken: a counter that may not exceed ``amount`` and drains ``amount /
window_s`` per second). ``bucket`` turns either into a token bucket that can never exceed it:
``burst + rate × window ≤ amount``, with a share kept back for clock jitter between replicas.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["ip", "key"]
Calls = Literal["all", "public", "private", "orders", "private_queries"]

# The share of a window's amount given as steady rate and as burst (the rest is jitter margin).
RATE_SHARE = 0.94
BURST_SHARE = 0.02
COUNTER_BURST_SHARE = 0.9


@dataclass(frozen=True)
class Limit:
    name: str
    scope: Scope
    calls: Calls
    amount: float  # units per window (window) or the counter's maximum (counter)
    window_s: float  # the window; a counter drains ``amount / window_s`` per second
    kind: Literal["window", "counter"] = "window"
    unit: Literal["cost", "call"] = "cost"  # ccxt's cost units, or one per call
    rate_share: float = RATE_SHARE
    burst_share: float = BURST_SHARE


@dataclass(frozen=True)
class Bucket:
    """A token bucket: ``rate`` units per second, up to ``burst`` units at once."""

    rate: float
    burst: float


@dataclass(frozen=True)
class Call:
    """One REST call as ccxt's ``fetch2`` sees it."""

    api: str  # ccxt's api section, joined: "public", "private", "v3 private"...
    method: str
    path: str
    cost: float  # ccxt's ``calculate_rate_limiter_cost``


def bucket(limit: Limit) -> Bucket:
    if limit.kind == "counter":
        return Bucket(rate=limit.amount / limit.window_s * RATE_SHARE,
                      burst=limit.amount * COUNTER_BURST_SHARE)
    return Bucket(rate=limit.amount * limit.rate_share / limit.window_s,
                  burst=limit.amount * limit.burst_share)


def _is_private(call: Call) -> bool:
    return "private" in call.api.lower()


def _is_order(exchange: str, call: Call) -> bool:
    method, path = call.method.upper(), call.path.strip("/")
    if exchange in ("binance", "binanceus"):
        return _is_private(call) and method == "POST" and path == "order"
    if exchange == "kraken":
        return path == "AddOrder"
    if exchange == "coinbase":
        return method == "POST" and path == "brokerage/orders"
    return False


def applies(exchange: str, limit: Limit, call: Call) -> bool:
    if limit.calls == "all":
        return True
    if limit.calls == "orders":
        return _is_order(exchange, call)
    if limit.calls == "private_queries":
        return _is_private(call) and not _is_order(exchange, call)
    return _is_private(call) == (limit.calls == "private")


def charges(exchange: str, limits: tuple[Limit, ...], call: Call) -> list[tuple[Limit, float]]:
    """The limits ``call`` counts against and how much it takes from each (nothing at 0)."""
    out = []
    for limit in limits:
        if not applies(exchange, limit, call):
            continue
        amount = 1.0 if limit.unit == "call" else float(call.cost)
        if amount > 0:
            out.append((limit, amount))
    return out


def limits_of(exchange: str, rate_limit_ms: float) -> tuple[Limit, ...]:
    """``exchange``'s limits, given its ccxt ``rateLimit`` (ms per cost unit)."""
    per_s = 1000.0 / rate_limit_ms  # ccxt cost units per second
    if exchange in ("binance", "binanceus"):
        # REQUEST_WEIGHT 6000/min per IP = ccxt's 20 units/s × 60 (1 unit = 5 weight on v3);
        # ORDERS 100 per 10 s and 200,000 per day per account (exchangeInfo ``rateLimits``).
        return (Limit("weight", "ip", "all", per_s * 60, 60.0),
                Limit("orders", "key", "orders", 100, 10.0, unit="call"),
                Limit("orders_day", "key", "orders", 200_000, 86_400.0, unit="call",
                      rate_share=0.48, burst_share=0.5))
    if exchange == "kraken":
        # The private call counter per key: max 15 calls, drains 0.33/s (Starter tier); ccxt
        # charges 3 units per call at 1 unit/s, so: max 45 units, drains 1 unit/s. AddOrder
        # costs 0 there and counts on the trading counter: max 60, drains 1/s.
        return (Limit("counter", "key", "private_queries", 15 * 3, 15 * 3 / per_s,
                      kind="counter"),
                Limit("trading", "key", "orders", 60, 60.0, kind="counter", unit="call"),
                Limit("public", "ip", "public", 2 * per_s, 2.0, kind="counter"))
    if exchange == "coinbase":
        # Advanced Trade: 30 private requests/s per key, 10 public requests/s per IP; ccxt:
        # 29.4 units/s, 1 unit per private call, 3 per public market call.
        return (Limit("private", "key", "private", per_s, 1.0),
                Limit("public", "ip", "public", per_s, 1.0))
    return (Limit("all", "ip", "all", per_s, 1.0),)
