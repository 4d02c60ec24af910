"""The idempotency ledger and the atomic live reservation, in Redis.

One hash per intent: who claimed it, the intent itself, whether a live order was routed,
and the final outcome. ``claim`` is HSETNX, ``finish`` is HSETNX on the outcome, so however
many times an intent is delivered or published, it is claimed once and logged once.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import redis.asyncio as aredis

from shared.events import OrderIntent, TradeLogged
from shared.redis_text import as_str
from shared.state import ARMED, KILL

LEDGER_TTL_S = 7 * 24 * 3600
INFLIGHT = "piggy:executor:inflight"

# KEYS: kill flag, ledger hash, spend counter, armed hash. ARGV: micros, cap micros, user, route.
_RESERVE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'halted' end
if redis.call('HEXISTS', KEYS[2], 'routed') == 1 then return 'already' end
if redis.call('HEXISTS', KEYS[4], ARGV[3]) == 0 then return 'disarmed' end
local spent = tonumber(redis.call('GET', KEYS[3]) or '0')
if spent + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return 'cap' end
redis.call('INCRBY', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], 172800)
redis.call('HSET', KEYS[2], 'routed', ARGV[4], 'reserved', ARGV[1], 'spend_key', KEYS[3])
return 'ok'
"""

# KEYS: ledger hash. Gives the reservation back once (when a live order was refused).
_RELEASE = """
local micros = redis.call('HGET', KEYS[1], 'reserved')
local key = redis.call('HGET', KEYS[1], 'spend_key')
if micros and key and redis.call('HSETNX', KEYS[1], 'released', '1') == 1 then
  redis.call('DECRBY', key, micros)
end
return 1
"""


class Reservation(StrEnum):
    OK = "ok"
    ALREADY = "already"
    HALTED = "halted"
    DISARMED = "disarmed"
    CAP = "cap"


@dataclass(frozen=True)
class LedgerEntry:
    claimed_by: str
    intent: OrderIntent | None
    routed: str
    outcome: TradeLogged | None


def _key(intent_id: str) -> str:
    return f"piggy:ledger:{intent_id}"


class Ledger:
    def __init__(self, redis: aredis.Redis) -> None:
        self._redis = redis
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    async def claim(self, intent: OrderIntent, owner: str) -> bool:
        key = _key(intent.intent_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "claimed_by", owner)
            pipe.hsetnx(key, "intent", intent.model_dump_json())
            pipe.expire(key, LEDGER_TTL_S)
            won, _, _ = await pipe.execute()
        return bool(won)

    async def get(self, intent_id: str) -> LedgerEntry | None:
        raw = await self._redis.hgetall(_key(intent_id))
        if not raw:
            return None
        return LedgerEntry(
            claimed_by=as_str(raw.get("claimed_by", "")),
            intent=OrderIntent.model_validate_json(raw["intent"]) if "intent" in raw else None,
            routed=as_str(raw.get("routed", "")),
            outcome=TradeLogged.model_validate_json(raw["outcome"]) if "outcome" in raw else None,
        )

    async def reserve_live(self, intent: OrderIntent, spend_key: str, micros: int, cap_micros: int,
                           route: str) -> Reservation:
        result = await self._reserve(keys=[KILL, _key(intent.intent_id), spend_key, ARMED],
                                     args=[micros, cap_micros, intent.user_id, route])
        return Reservation(result)

    async def release(self, intent_id: str) -> None:
        await self._release(keys=[_key(intent_id)])

    async def finish(self, outcome: TradeLogged) -> bool:
        """Record the final outcome; False when one was already recorded (nothing to log)."""
        key = _key(outcome.intent_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "outcome", outcome.model_dump_json())
            pipe.zrem(INFLIGHT, outcome.intent_id)
            won, _ = await pipe.execute()
        return bool(won)

    async def count_lookup(self, intent_id: str) -> int:
        """One more 'status unknown' round for this intent; returns how many so far."""
        return int(await self._redis.hincrby(_key(intent_id), "lookups", 1))

    async def mark_inflight(self, intent_id: str, deadline: float) -> None:
        await self._redis.zadd(INFLIGHT, {intent_id: deadline})

    async def overdue(self, now: float, limit: int = 100) -> list[str]:
        members = await self._redis.zrangebyscore(INFLIGHT, 0, now, start=0, num=limit)
        return [as_str(m) for m in members if isinstance(m, str | bytes)]
