"""Redis adapters of the credentials service: vault listing, guarded status writes, round lock.

Status writes are guarded by the submission's correlation id (one Lua call), so an outcome
computed for an old submission never overwrites a newer submission or a user's delete.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aredis

from shared.state import _flat, cred_status_key
from shared.vault import INDEX

VAULT_PREFIX = "piggy:vault:"
ROUND_LOCK = "piggy:credentials:revalidate:lock"

_SET_IF_CORRELATION = """
if redis.call('HGET', KEYS[1], 'correlation_id') ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


def parse_vault_ref(ref: str) -> tuple[str, str] | None:
    """``piggy:vault:<user>:<exchange>`` → (user, exchange)."""
    if not ref.startswith(VAULT_PREFIX):
        return None
    user, sep, exchange = ref[len(VAULT_PREFIX):].rpartition(":")
    return (user, exchange) if sep and user and exchange else None


async def vault_refs(redis: aredis.Redis) -> AsyncIterator[str]:
    """Every vault entry, from the vault's index set (its Redis user may not SCAN)."""
    for ref in sorted(await redis.smembers(INDEX)):
        yield ref.decode() if isinstance(ref, bytes) else str(ref)


async def set_status_if(redis: aredis.Redis, user_id: str, exchange: str, correlation_id: str,
                        fields: dict[str, Any]) -> bool:
    """Write ``fields`` only while the status still belongs to ``correlation_id``."""
    args: list[str] = [correlation_id]
    for k, v in fields.items():
        args += [k, _flat(v)]
    return bool(await redis.eval(_SET_IF_CORRELATION, 1, cred_status_key(user_id, exchange), *args))


async def take_round(redis: aredis.Redis, owner: str, ttl_ms: int) -> bool:
    """One re-validation round per interval across all replicas (SET NX PX)."""
    return bool(await redis.set(ROUND_LOCK, owner, nx=True, px=max(ttl_ms, 1)))
