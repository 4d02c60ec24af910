"""Per-user API tokens, stored hashed in Redis.

A token is shown once, when it is created; Redis keeps only its SHA-256 (the hash field) and
who it belongs to, so a Redis dump or a leaked AOF file gives no usable token. The operator
token (``PIGGY_API_TOKEN`` / the token file) is not stored here: it may act for every user.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aredis

TOKENS = "piggy:tokens"  # hash: sha256(token) -> {"id", "user", "created", "label"}
PREFIX = "pgu_"


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    created: str
    label: str = ""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _info(raw: str) -> TokenInfo | None:
    try:
        data = json.loads(raw)
        return TokenInfo(id=str(data["id"]), user=str(data["user"]),
                         created=str(data.get("created", "")), label=str(data.get("label", "")))
    except (ValueError, KeyError, TypeError):
        return None  # a hand-written junk entry grants nothing


async def create(redis: aredis.Redis, user_id: str, label: str = "") -> tuple[str, TokenInfo]:
    """A new token for ``user_id``: (the token, shown once; what is stored about it)."""
    token = PREFIX + secrets.token_urlsafe(32)
    info = TokenInfo(id=digest(token)[:12], user=user_id,
                     created=datetime.now(UTC).isoformat(timespec="seconds"), label=label[:80])
    await redis.hset(TOKENS, digest(token), json.dumps(info.__dict__))
    return token, info


async def lookup(redis: aredis.Redis, token: str) -> TokenInfo | None:
    """Who ``token`` belongs to, or None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    raw = await redis.hget(TOKENS, digest(token))
    return _info(raw) if raw else None


async def list_all(redis: aredis.Redis, user_id: str | None = None) -> list[TokenInfo]:
    found = [_info(v) for v in (await redis.hgetall(TOKENS)).values()]
    infos = [i for i in found if i is not None and (user_id is None or i.user == user_id)]
    return sorted(infos, key=lambda i: (i.user, i.created))


async def revoke(redis: aredis.Redis, *, user_id: str | None = None,
                 token_id: str | None = None) -> list[TokenInfo]:
    """Delete every token of ``user_id`` and/or the one with ``token_id``; returns them."""
    if user_id is None and token_id is None:
        raise ValueError("name a user or a token id to revoke")
    gone = []
    for field, raw in (await redis.hgetall(TOKENS)).items():
        info = _info(raw)
        if info is None:
            continue
        if (user_id is None or info.user == user_id) and (token_id is None or info.id == token_id):
            await redis.hdel(TOKENS, field)
            gone.append(info)
    return gone
