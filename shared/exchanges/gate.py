"""What every REST call of a ccxt instance passes through when several processes share an
exchange account: the shared rate budget (``shared.exchanges.budget``) and, on kraken, the
per-key nonce.

``ExchangeGate.attach`` wraps the instance's own ``fetch2`` (ccxt's one entry point for every
REST call, where its built-in limiter would ``throttle(cost)``): the call's cost comes from
ccxt's ``calculate_rate_limiter_cost`` (its API table), the budget is taken before anything is
signed or sent, and a rate-limit answer from the exchange penalizes the shared buckets. ccxt
itself is not modified; its per-instance limiter is switched off where the shared one is on.

Kraken wants a strictly increasing nonce per API key. Replicas sharing a key take turns per
key (a Redis lock, held from signing until the answer arrived, so nonces reach Kraken in the
order they were issued) and each nonce is one ``INCR`` on the key's counter, never below the
current time in microseconds (ccxt's own kraken nonce is in milliseconds), so it stays above
anything Kraken saw, even if the counter was lost. A holder that dies frees the key after its
lock expires (the exchange timeout + 2 s).
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import ccxt
import redis.asyncio as aredis

from shared.exchanges.budget import (
    PREFIX,
    RateBudget,
    RateBudgetExhausted,
    RateBudgetSettings,
    key_id,
    penalty_seconds,
)
from shared.exchanges.limits import Call, charges, limits_of

log = logging.getLogger("piggy.exchanges.gate")
NONCE_EXCHANGES = frozenset({"kraken"})
LOCK_MARGIN_MS = 2000
_POLL_S = (0.002, 0.005, 0.01, 0.02)

# KEYS: lock, counter. ARGV: token, ttl_ms, floor_us. -> {1, nonce} or {0, lock pttl}
_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local t = redis.call('TIME')
  local floor = math.max(tonumber(ARGV[3]), tonumber(t[1]) * 1000000 + tonumber(t[2]))
  local v = redis.call('INCR', KEYS[2])
  if v < floor then
    redis.call('SET', KEYS[2], floor)
    v = floor
  end
  return {1, v}
end
return {0, redis.call('PTTL', KEYS[1])}
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class KeyBusy(RateBudgetExhausted):
    """Another replica held the key's nonce turn for longer than the wait bound."""


class NonceTurns:
    """Kraken's per-key nonce, issued in turn across every process sharing the key."""

    def __init__(self, redis: aredis.Redis, lock_ttl_ms: int, max_wait_s: float) -> None:
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._ttl_ms = lock_ttl_ms
        self._max_wait_s = max_wait_s
        self.issued = 0

    @staticmethod
    def keys(exchange: str, key_ref: str) -> list[str]:
        return [f"{PREFIX}{exchange}:nonce-turn:{key_ref}", f"{PREFIX}{exchange}:nonce:{key_ref}"]

    async def acquire(self, exchange: str, key_ref: str) -> tuple[str, int]:
        """(turn token, nonce): the key's turn is ours until ``release``."""
        token = secrets.token_hex(8)
        deadline = time.monotonic() + self._max_wait_s
        attempt = 0
        while True:
            got, value = await self._acquire(keys=self.keys(exchange, key_ref),
                                             args=[token, self._ttl_ms, time.time_ns() // 1000])
            if int(got):
                self.issued += 1
                return token, int(value)
            if time.monotonic() >= deadline:
                raise KeyBusy(f"{exchange} key busy: another replica held its nonce turn for "
                              f"over {self._max_wait_s:g}s; not sent")
            await asyncio.sleep(_POLL_S[min(attempt, len(_POLL_S) - 1)])
            attempt += 1

    async def release(self, exchange: str, key_ref: str, token: str) -> None:
        try:
            await self._release(keys=self.keys(exchange, key_ref)[:1], args=[token])
        except Exception as exc:  # the turn then ends when its lock expires
            log.warning("nonce turn on %s not released: %s", exchange, type(exc).__name__)


class ExchangeGate:
    """Made once per process; ``attach`` to every ccxt instance it creates."""

    def __init__(self, redis: aredis.Redis, settings: RateBudgetSettings,
                 exchange_timeout_ms: int) -> None:
        self.settings = settings
        self.budget = RateBudget(redis, settings)
        turn_ttl_ms = exchange_timeout_ms + LOCK_MARGIN_MS
        # a waiter outlasts a dead holder's turn (it expires after turn_ttl_ms)
        self.nonces = NonceTurns(redis, turn_ttl_ms,
                                 max(settings.rate_budget_max_wait_s, 2 * turn_ttl_ms / 1000))

    def attach(self, client: Any, exchange: str, api_key: str | None, *,
               loopback: bool) -> Any:
        """Route ``client``'s REST calls through the shared budget (when enabled for this
        exchange) and, on kraken with a key, through the shared nonce."""
        budgeted = self.settings.enabled(loopback)
        nonced = exchange in NONCE_EXCHANGES and bool(api_key)
        if not budgeted and not nonced:
            return client
        limits = limits_of(exchange, float(client.rateLimit)) if budgeted else ()
        key_ref = key_id(api_key) if api_key else "public"
        original: Callable[..., Awaitable[Any]] = client.fetch2
        if budgeted:
            client.enableRateLimit = False  # the shared budget replaces ccxt's own limiter

        async def fetch2(path: str, api: Any = "public", method: str = "GET",
                         params: dict[str, Any] | None = None,
                         config: dict[str, Any] | None = None) -> Any:
            params, config = params if params is not None else {}, config or {}
            section = " ".join(map(str, api)) if isinstance(api, list) else str(api)
            cost = float(client.calculate_rate_limiter_cost(api, method, path, params, config))
            charged = charges(exchange, limits, Call(section, method, path, cost))
            await self.budget.take(exchange, key_ref, charged)
            turn = None
            if nonced and "private" in section.lower():
                turn = await self.nonces.acquire(exchange, key_ref)
                nonce = turn[1]
                client.nonce = lambda: nonce  # read by sign() before fetch2's first await
            try:
                return await original(path, api, method, params, config)
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as exc:
                seconds = penalty_seconds(exc, getattr(client, "last_response_headers", None))
                if seconds is not None and charged:
                    try:
                        await self.budget.penalize(exchange, key_ref,
                                                   [lim for lim, _ in charged], seconds)
                    except Exception as redis_exc:  # the exchange's answer still stands
                        log.warning("rate penalty not shared: %s", type(redis_exc).__name__)
                raise
            finally:
                if turn is not None:
                    await self.nonces.release(exchange, key_ref, turn[0])

        client.fetch2 = fetch2
        return client
