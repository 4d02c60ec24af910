"""Strategy state in Redis: versioned state, intent claims, an outbox, status and control.

Keys, per strategy ``<name>``:
  piggy:strategies                     hash name -> config JSON (what `piggy strategy list` shows)
  piggy:strategy:<name>:state          hash {version, state}: the core's state, compare-and-set
  piggy:strategy:<name>:outbox         hash intent_id -> OrderIntent JSON, committed, not yet sent
  piggy:strategy:<name>:status         hash {status, last_error, spent, next_due, ...}
  piggy:strategy:<name>:control        "run" | "stop" (unset: the config's ``enabled``)
  piggy:strategy:claim:<intent_id>     SET NX: this intent id was committed once, ever

``commit`` is one Lua script: the state is written only if its version is still the one
read, each intent's claim is taken with SET NX, and the claimed intents enter the outbox in
the same step. So a restart or a second replica can neither lose a committed intent (it is
in the outbox until published) nor commit one twice (the claim and the version both refuse).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aredis

from shared import streams
from shared.bus import decode_entry
from shared.events import OrderIntent
from shared.redis_text import as_opt_str, as_str, as_str_map

REGISTRY = "piggy:strategies"
CLAIM_TTL_S = 30 * 86400

_COMMIT = """
local v = redis.call('HGET', KEYS[1], 'version') or '0'
if v ~= ARGV[1] then return {-1} end
local out = {1}
for i = 3, #KEYS do
  local a = 4 + 2 * (i - 3)
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', tonumber(ARGV[3])) then
    redis.call('HSET', KEYS[2], ARGV[a], ARGV[a + 1])
    table.insert(out, 1)
  else
    table.insert(out, 0)
  end
end
redis.call('HSET', KEYS[1], 'version', tostring(tonumber(v) + 1), 'state', ARGV[2])
return out
"""


def key(name: str, part: str) -> str:
    return f"piggy:strategy:{name}:{part}"


def claim_key(intent_id: str) -> str:
    return f"piggy:strategy:claim:{intent_id}"


@dataclass(frozen=True)
class Record:
    version: str
    state: str | None


@dataclass
class Commit:
    ok: bool
    claimed: list[OrderIntent] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


class StrategyStore:
    def __init__(self, redis: aredis.Redis, claim_ttl_s: int = CLAIM_TTL_S) -> None:
        self.redis = redis
        self.claim_ttl_s = claim_ttl_s
        self._commit = redis.register_script(_COMMIT)

    async def register(self, name: str, config_json: str) -> None:
        await self.redis.hset(REGISTRY, name, config_json)

    async def configs(self) -> dict[str, dict[str, Any]]:
        raw = await self.redis.hgetall(REGISTRY)
        return {k: json.loads(v) for k, v in sorted(as_str_map(raw).items())}

    async def load(self, name: str) -> Record:
        raw = await self.redis.hmget(key(name, "state"), ["version", "state"])
        return Record(version=as_str(raw[0] or "0"), state=as_opt_str(raw[1]))

    async def commit(self, name: str, version: str, state_json: str,
                     intents: list[OrderIntent]) -> Commit:
        keys = [key(name, "state"), key(name, "outbox"), *(claim_key(i.intent_id) for i in intents)]
        args: list[str] = [version, state_json, str(self.claim_ttl_s)]
        for intent in intents:
            args += [intent.intent_id, intent.model_dump_json()]
        result = await self._commit(keys=keys, args=args)
        if int(result[0]) != 1:
            return Commit(ok=False)
        commit = Commit(ok=True)
        for intent, taken in zip(intents, result[1:], strict=True):
            (commit.claimed.append(intent) if int(taken) else commit.already.append(intent.intent_id))
        return commit

    async def sent(self, name: str, intent_id: str) -> bool:
        """Remove a published intent from the outbox; True if this call removed it."""
        return bool(await self.redis.hdel(key(name, "outbox"), intent_id))

    async def outbox(self, name: str) -> list[OrderIntent]:
        raw = await self.redis.hgetall(key(name, "outbox"))
        return [OrderIntent.model_validate_json(v) for v in raw.values()]

    async def set_status(self, name: str, fields: dict[str, Any]) -> None:
        await self.redis.hset(key(name, "status"), mapping={k: str(v) for k, v in fields.items()})

    async def status(self, name: str) -> dict[str, str]:
        return as_str_map(await self.redis.hgetall(key(name, "status")))

    async def control(self, name: str) -> str | None:
        return as_opt_str(await self.redis.get(key(name, "control")))

    async def set_control(self, name: str, value: str) -> None:
        await self.redis.set(key(name, "control"), value)

    async def start(self, name: str) -> None:
        """Ask runners to run ``name`` again; clears a ``failed`` mark."""
        await self.set_control(name, "run")
        await self.redis.hset(key(name, "status"), "status", "starting")

    async def stop(self, name: str) -> None:
        await self.set_control(name, "stop")


async def intent_on_stream(redis: aredis.Redis, intent_id: str, scan: int = 5000) -> bool:
    """True if an OrderIntent with this id is among the newest ``scan`` intents entries."""
    last, remaining = "+", scan
    while remaining > 0:
        batch = await redis.xrevrange(streams.INTENTS, max=last, count=min(500, remaining))
        if not batch:
            return False
        for _entry_id, fields in batch:
            body = decode_entry(fields or {})
            if isinstance(body, dict) and body.get("intent_id") == intent_id:
                return True
        remaining -= len(batch)
        eid = batch[-1][0]
        last = "(" + as_str(eid or "")
    return False
