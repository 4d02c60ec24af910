"""One request budget per exchange account (and per source IP), shared by every replica.

Each limit of ``shared.exchanges.limits`` is a token bucket kept in Redis as its "theoretical
arrival time" (GCRA: the bucket is full when ``tat <= now``). One Lua call per request takes
what the request costs from every bucket it counts against, atomically, on Redis's clock: it
answers how long the caller must wait before sending (0 while the burst lasts) and reserves
that slot, or, when the wait would pass ``max_wait``, reserves nothing and the call is refused
(``RateBudgetExhausted``: "rate budget exhausted", never sent). The exchange's own 429 /
``Retry-After`` / 418 answers push every bucket the call counted against past the stated
time (``penalize``), so every replica holds back, not only the one that was told.

``reserve`` and ``penalized`` are the same math in Python, for the unit tests; the Lua
scripts must stay in step with them.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Literal

import ccxt
import redis.asyncio as aredis
from pydantic import Field

from shared.exchanges.limits import Bucket, Limit, bucket
from shared.settings import BaseSettings, _config

log = logging.getLogger("piggy.exchanges.budget")
PREFIX = "piggy:rate:"
DEFAULT_PENALTY_S = 1.0  # a 429 without Retry-After
DEFAULT_BAN_S = 120.0  # a 418 without Retry-After (binance bans for 2 minutes at first)


class RateBudgetSettings(BaseSettings):
    """``PIGGY_RATE_BUDGET``: ``auto`` (on for real exchanges, off for a loopback sandbox,
    which has no limits unless told), ``on`` or ``off``. ``PIGGY_RATE_BUDGET_MAX_WAIT_S``: how
    long a call may wait for its slot before the intent is refused. ``PIGGY_RATE_BUDGET_IP``:
    the name of the egress IP the replicas share (set it per node when replicas leave
    through different addresses; per-IP limits are then counted per name)."""

    model_config = _config()
    rate_budget: Literal["auto", "on", "off"] = "auto"
    rate_budget_max_wait_s: float = Field(default=5.0, ge=0, le=300)
    rate_budget_ip: str = Field(default="shared", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    def enabled(self, loopback: bool) -> bool:
        return self.rate_budget == "on" or (self.rate_budget == "auto" and not loopback)


class RateBudgetExhausted(ccxt.RateLimitExceeded):
    """Refused before sending: the shared budget has no slot within the wait bound."""


@dataclass(frozen=True)
class Reservation:
    granted: bool
    wait_s: float


# ---- the math (pure) -----------------------------------------------------------------------

def reserve(tats: list[float], now: float, costs: list[float], buckets: list[Bucket],
            max_wait: float) -> tuple[Reservation, list[float]]:
    """The wait before a call costing ``costs[i]`` on bucket ``i`` may go, and the buckets'
    new states (unchanged when refused). Times in seconds."""
    wait = 0.0
    for tat, cost, b in zip(tats, costs, buckets, strict=True):
        burst = max(b.burst, cost)
        wait = max(wait, max(tat, now) + cost / b.rate - now - burst / b.rate)
    if wait > max_wait:
        return Reservation(False, wait), list(tats)
    send = now + wait
    return Reservation(True, wait), [max(tat, send) + cost / b.rate
                                     for tat, cost, b in zip(tats, costs, buckets, strict=True)]


def penalized(tat: float, now: float, seconds: float, b: Bucket) -> float:
    """A bucket's state after the exchange said "not before ``now + seconds``"."""
    return max(tat, now + seconds + b.burst / b.rate)


def penalty_seconds(exc: BaseException, headers: Any) -> float | None:
    """How long the exchange told us to stay away (``Retry-After``), a default when it said
    "too many" without a time, or None when ``exc`` is not a rate-limit answer."""
    if not isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)) or isinstance(
            exc, RateBudgetExhausted):
        return None
    text = str(exc)
    banned = " 418 " in text or "banned" in text.lower()
    value = None
    if isinstance(headers, dict):
        for name, raw in headers.items():
            if str(name).lower() == "retry-after":
                try:
                    value = float(raw)
                except (TypeError, ValueError):
                    value = None
    if value is not None and value >= 0:
        return min(value, 3 * 86_400.0)
    return DEFAULT_BAN_S if banned else DEFAULT_PENALTY_S


# ---- Redis ---------------------------------------------------------------------------------

# KEYS: one hash per bucket. ARGV: max_wait_ms, then cost, rate (per ms), burst per bucket.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local max_wait = tonumber(ARGV[1])
local wait = 0
local tats = {}
for i = 1, #KEYS do
  local cost = tonumber(ARGV[3 * i - 1])
  local rate = tonumber(ARGV[3 * i])
  local burst = math.max(tonumber(ARGV[3 * i + 1]), cost)
  local tat = tonumber(redis.call('HGET', KEYS[i], 'tat') or '0') or 0
  tats[i] = tat
  wait = math.max(wait, math.max(tat, now) + cost / rate - now - burst / rate)
end
if wait > max_wait then return {0, tostring(wait)} end
local send = now + wait
for i = 1, #KEYS do
  local nxt = math.max(tats[i], send) + tonumber(ARGV[3 * i - 1]) / tonumber(ARGV[3 * i])
  redis.call('HSET', KEYS[i], 'tat', tostring(nxt))
  redis.call('PEXPIRE', KEYS[i], math.ceil(nxt - now) + 60000)
end
return {1, tostring(wait)}
"""
# KEYS: the buckets. ARGV: penalty_ms, then rate (per ms), burst per bucket.
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local ms = tonumber(ARGV[1])
for i = 1, #KEYS do
  local tat = tonumber(redis.call('HGET', KEYS[i], 'tat') or '0') or 0
  local nxt = math.max(tat, now + ms + tonumber(ARGV[2 * i + 1]) / tonumber(ARGV[2 * i]))
  redis.call('HSET', KEYS[i], 'tat', tostring(nxt))
  redis.call('PEXPIRE', KEYS[i], math.ceil(nxt - now) + 60000)
end
return 1
"""


def key_id(api_key: str) -> str:
    """A short stable name for an API key (the key itself never goes into Redis)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


class RateBudget:
    """The shared buckets of every exchange account this process uses."""

    def __init__(self, redis: aredis.Redis, settings: RateBudgetSettings) -> None:
        self._redis = redis
        self.settings = settings
        self._reserve = redis.register_script(_RESERVE)
        self._penalize = redis.register_script(_PENALIZE)
        self.waited_s = 0.0  # total time this process waited for slots
        self.refused = 0
        self.penalties = 0

    def bucket_key(self, exchange: str, limit: Limit, key_ref: str) -> str:
        who = f"ip:{self.settings.rate_budget_ip}" if limit.scope == "ip" else f"key:{key_ref}"
        return f"{PREFIX}{exchange}:{who}:{limit.name}"

    async def take(self, exchange: str, key_ref: str,
                   charged: list[tuple[Limit, float]]) -> None:
        """Wait for this call's slot, or raise ``RateBudgetExhausted`` (nothing reserved)."""
        if not charged:
            return
        keys = [self.bucket_key(exchange, limit, key_ref) for limit, _ in charged]
        args: list[float] = [self.settings.rate_budget_max_wait_s * 1000]
        for limit, cost in charged:
            b = bucket(limit)
            args += [cost, b.rate / 1000, b.burst]
        granted, wait = await self._reserve(keys=keys, args=args)
        wait_s = max(float(wait), 0.0) / 1000
        if not int(granted):
            self.refused += 1
            names = ", ".join(limit.name for limit, _ in charged)
            raise RateBudgetExhausted(
                f"rate budget exhausted on {exchange} ({names}): the next slot is in "
                f"{wait_s:.1f}s, over the {self.settings.rate_budget_max_wait_s:g}s bound; "
                "not sent")
        if wait_s > 0:
            self.waited_s += wait_s
            await asyncio.sleep(wait_s)

    async def penalize(self, exchange: str, key_ref: str, limits: list[Limit],
                       seconds: float) -> None:
        """Hold back every replica on ``limits`` for ``seconds`` (the exchange's answer)."""
        if not limits:
            return
        self.penalties += 1
        keys = [self.bucket_key(exchange, limit, key_ref) for limit in limits]
        args: list[float] = [seconds * 1000]
        for limit in limits:
            b = bucket(limit)
            args += [b.rate / 1000, b.burst]
        log.warning("%s answered rate limited: every replica holds back %s for %.1fs",
                    exchange, ", ".join(limit.name for limit in limits), seconds)
        await self._penalize(keys=keys, args=args)
