"""Each venue's request limits, enforced per API key and per source IP (off by default).

The limits are the real exchanges' documented ones, independent of what the product or ccxt
declares, so a test of the product's shared budget is checked against the exchange's rules:

* binance / binanceus: ``REQUEST_WEIGHT`` 6,000 per minute per IP (each endpoint's weight),
  ``ORDERS`` 100 per 10 s and 200,000 per day per key (the windows are fixed, aligned to the
  clock, as binance counts them). Over a limit: HTTP 429 with ``Retry-After`` (seconds to the
  window's end; code -1003, or -1015 for orders); a client that keeps sending while told to
  wait collects strikes, and at ``ban_after`` strikes its IP is banned: HTTP 418 with
  ``Retry-After`` for ``ban_s`` (binance: "2 minutes to 3 days" for repeat offenders).
* kraken: the private call counter per key (max 15, drains 0.33/s, Starter tier; ledger and
  trade history calls count 2, ``AddOrder``/``CancelOrder`` 0) → ``EAPI:Rate limit
  exceeded``; the trading counter per key (max 60, drains 1/s, ``AddOrder`` +1) →
  ``EOrder:Rate limit exceeded``. Public calls are not limited here.
* coinbase: 30 private requests per second per key, 10 public requests per second per IP
  → HTTP 429 ``rate_limit_exceeded``.

``RateLimiter.check`` is pure over its own state and an injected clock: it answers None (go
on, counted) or a ``Refusal`` the app turns into the dialect's answer. ``stats`` is what the
admin API shows: the peak count of every limit, refusals, bans, and accepted order times.
"""
from __future__ import annotations

import base64
import json
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Scope = Literal["ip", "key"]


@dataclass(frozen=True)
class VenueLimit:
    name: str
    scope: Scope
    amount: float  # per window, or the counter's maximum
    window_s: float = 0.0  # fixed window length (0 for a counter)
    decay_per_s: float = 0.0  # a counter's drain
    code: str = ""  # the answer's code or error string


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    retry_after_s: int | None


BINANCE_WEIGHTS: dict[str, tuple[int, int]] = {  # path -> (with symbol, without symbol)
    "GET /api/v3/exchangeInfo": (20, 20), "GET /api/v3/ticker/24hr": (2, 80),
    "GET /api/v3/ticker/price": (2, 4), "GET /api/v3/ticker/bookTicker": (2, 4),
    "GET /api/v3/depth": (5, 5), "GET /api/v3/account": (20, 20),
    "POST /api/v3/order": (1, 1), "GET /api/v3/order": (4, 4), "DELETE /api/v3/order": (1, 1),
    "GET /api/v3/openOrders": (6, 80), "DELETE /api/v3/openOrders": (1, 1),
    "GET /api/v3/allOrders": (20, 20), "GET /api/v3/myTrades": (20, 20),
}
LIMITS: dict[str, tuple[VenueLimit, ...]] = {
    "binance": (VenueLimit("REQUEST_WEIGHT", "ip", 6000, window_s=60, code="-1003"),
                VenueLimit("ORDERS", "key", 100, window_s=10, code="-1015"),
                VenueLimit("ORDERS_DAY", "key", 200_000, window_s=86_400, code="-1015")),
    "kraken": (VenueLimit("counter", "key", 15, decay_per_s=0.33,
                          code="EAPI:Rate limit exceeded"),
               VenueLimit("trading", "key", 60, decay_per_s=1.0,
                          code="EOrder:Rate limit exceeded")),
    "coinbase": (VenueLimit("private", "key", 30, window_s=1),
                 VenueLimit("public", "ip", 10, window_s=1)),
}
KRAKEN_DOUBLE = frozenset({"Ledgers", "QueryLedgers", "TradesHistory", "QueryTrades"})
KRAKEN_TRADING = frozenset({"AddOrder", "CancelOrder", "AddOrderBatch", "EditOrder"})


def dialect_of(venue: str) -> str:
    return "binance" if venue in ("binance", "binanceus") else venue


def charges(dialect: str, method: str, path: str, query: Mapping[str, str],
            has_key: bool) -> dict[str, float]:
    """What one request counts on each limit of ``dialect``."""
    if dialect == "binance":
        with_symbol, without = BINANCE_WEIGHTS.get(f"{method} {path}", (1, 1))
        out = {"REQUEST_WEIGHT": float(with_symbol if "symbol" in query else without)}
        if method == "POST" and path == "/api/v3/order":
            out |= {"ORDERS": 1.0, "ORDERS_DAY": 1.0}
        return out
    if dialect == "kraken":
        call = path.rsplit("/", 1)[-1]
        if not path.startswith("/0/private/"):
            return {}
        if call in KRAKEN_TRADING:
            return {"trading": 1.0} if call == "AddOrder" else {}
        return {"counter": 2.0 if call in KRAKEN_DOUBLE else 1.0}
    if dialect == "coinbase":
        public = "/market/" in path or path.endswith("/time") or (
            path.startswith("/v2/") and not path.startswith("/v2/accounts"))
        return {"public": 1.0} if public or not has_key else {"private": 1.0}
    return {}


def key_of(headers: Mapping[str, str]) -> str:
    """The API key a request claims (not checked here: limits count what arrives)."""
    for name in ("X-MBX-APIKEY", "API-Key", "CB-ACCESS-KEY"):
        if headers.get(name):
            return str(headers[name])
    bearer = str(headers.get("Authorization", ""))
    if bearer.startswith("Bearer ") and bearer.count(".") == 2:
        head = bearer[7:].split(".")[0]
        try:
            return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
                       .get("kid", ""))
        except (ValueError, AttributeError):
            return ""
    return ""


@dataclass
class RateLimiter:
    dialect: str
    clock: Callable[[], float]  # seconds
    enabled: bool = False
    ban_after: int = 3
    ban_s: float = 120.0
    limits: tuple[VenueLimit, ...] = ()
    windows: dict[tuple[str, str, int], float] = field(default_factory=dict)
    levels: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    peaks: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    cooling: dict[str, float] = field(default_factory=dict)  # ip -> told to wait until
    strikes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    banned_until: dict[str, float] = field(default_factory=dict)
    refused: int = 0
    bans: int = 0
    banned_answers: int = 0
    order_times: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.limits:
            self.limits = LIMITS.get(self.dialect, ())

    def configure(self, spec: Mapping[str, Any]) -> None:
        """``enabled``, ``ban_after``, ``ban_s``, ``limits`` ({name: amount}); resets counts."""
        amounts = spec.get("limits") or {}
        known = {lim.name for lim in LIMITS.get(self.dialect, ())}
        if not isinstance(amounts, dict) or set(amounts) - known:
            raise ValueError(f"limits must map some of {sorted(known)} to an amount")
        base = {lim.name: lim for lim in LIMITS.get(self.dialect, ())}
        self.limits = tuple(
            VenueLimit(lim.name, lim.scope, float(amounts.get(lim.name, lim.amount)),
                       lim.window_s, lim.decay_per_s, lim.code) for lim in base.values())
        self.enabled = bool(spec.get("enabled", True))
        self.ban_after = int(spec.get("ban_after", 3))
        self.ban_s = float(spec.get("ban_s", 120.0))
        if self.ban_after < 1 or self.ban_s <= 0:
            raise ValueError("ban_after must be >= 1 and ban_s > 0")
        self.windows.clear()
        self.levels.clear()
        self.peaks.clear()
        self.cooling.clear()
        self.strikes.clear()
        self.banned_until.clear()
        self.refused = self.bans = self.banned_answers = 0
        self.order_times.clear()

    def check(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
              ip: str) -> Refusal | None:
        if not self.enabled:
            return None
        now = self.clock()
        if self.banned_until.get(ip, 0.0) > now:
            self.banned_answers += 1
            return Refusal(418, "-1003", "Way too many requests; IP banned",
                           math.ceil(self.banned_until[ip] - now))
        key = key_of(headers)
        taken = charges(self.dialect, method, path, query, bool(key))
        refusal = self._over(taken, key, ip, now)
        if refusal is not None:
            self.refused += 1
            return self._strike(ip, now, refusal)
        if self.cooling.get(ip, 0.0) > now and self.dialect == "binance":
            self.refused += 1
            return self._strike(ip, now, Refusal(429, "-1003", "Too many requests; back off",
                                                 math.ceil(self.cooling[ip] - now)))
        self._count(taken, key, ip, now)
        if "ORDERS" in taken or "trading" in taken or (
                "private" in taken and method == "POST" and path.endswith("/orders")):
            self.order_times.append(now)
        return None

    def _ident(self, limit: VenueLimit, key: str, ip: str) -> str | None:
        return ip if limit.scope == "ip" else (key or None)

    def _over(self, taken: dict[str, float], key: str, ip: str, now: float) -> Refusal | None:
        for limit in self.limits:
            amount, ident = taken.get(limit.name, 0.0), self._ident(limit, key, ip)
            if not amount or ident is None:
                continue
            if limit.window_s:
                slot = int(now // limit.window_s)
                used = self.windows.get((limit.name, ident, slot), 0.0)
                if used + amount > limit.amount:
                    wait = math.ceil((slot + 1) * limit.window_s - now)
                    return Refusal(429, limit.code, f"Too many requests; {limit.name} limit "
                                   f"{limit.amount:g} per {limit.window_s:g}s", wait)
            else:
                level = self._level(limit, ident, now)
                if level + amount > limit.amount:
                    wait = math.ceil((level + amount - limit.amount) / limit.decay_per_s)
                    return Refusal(429, limit.code, limit.code, wait)
        return None

    def _level(self, limit: VenueLimit, ident: str, now: float) -> float:
        level, at = self.levels.get((limit.name, ident), (0.0, now))
        return max(0.0, level - (now - at) * limit.decay_per_s)

    def _count(self, taken: dict[str, float], key: str, ip: str, now: float) -> None:
        for limit in self.limits:
            amount, ident = taken.get(limit.name, 0.0), self._ident(limit, key, ip)
            if not amount or ident is None:
                continue
            if limit.window_s:
                slot_key = (limit.name, ident, int(now // limit.window_s))
                self.windows[slot_key] = used = self.windows.get(slot_key, 0.0) + amount
            else:
                used = self._level(limit, ident, now) + amount
                self.levels[(limit.name, ident)] = (used, now)
            self.peaks[limit.name] = max(self.peaks[limit.name], used)

    def _strike(self, ip: str, now: float, refusal: Refusal) -> Refusal:
        """Binance: being told to wait and sending anyway, ``ban_after`` times, bans the IP."""
        if self.dialect != "binance":
            return refusal
        if self.cooling.get(ip, 0.0) > now:
            self.strikes[ip] += 1
            if self.strikes[ip] >= self.ban_after:
                self.banned_until[ip] = now + self.ban_s
                self.bans += 1
                self.strikes[ip] = 0
                return Refusal(418, "-1003", "Way too many requests; IP banned",
                               math.ceil(self.ban_s))
        self.cooling[ip] = max(self.cooling.get(ip, 0.0), now + (refusal.retry_after_s or 1))
        return refusal

    def stats(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "ban_after": self.ban_after, "ban_s": self.ban_s,
                "limits": {lim.name: {"scope": lim.scope, "amount": lim.amount,
                                      "window_s": lim.window_s, "decay_per_s": lim.decay_per_s,
                                      "peak": self.peaks.get(lim.name, 0.0)}
                           for lim in self.limits},
                "refused": self.refused, "bans": self.bans,
                "banned_answers": self.banned_answers, "order_times": list(self.order_times)}
