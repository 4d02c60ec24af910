"""Redis keys shared by more than one service, and the small atomic operations on them.

Keys hold state (not events): the kill switch, gateway heartbeats, credential status,
live-armed users, last prices. Updates replicas race on are single commands or Lua.
"""
from __future__ import annotations

import json
import logging
import time
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import redis.asyncio as aredis

from shared.redis_text import as_str_map

log = logging.getLogger("piggy.state")

KILL = "piggy:kill"
HEARTBEATS = "piggy:heartbeats:gateway"
ARMED = "piggy:live:armed"  # hash: armed_field(user, exchange) -> when armed (epoch seconds)
ARMED_SEP = ":"  # a user id never holds one (shared.types.USER_ID_PATTERN)


def armed_field(user_id: str, exchange: str) -> str:
    """The ``ARMED`` hash field of one (user, exchange): live arming is per exchange."""
    return f"{user_id}{ARMED_SEP}{exchange}"


def parse_armed_field(field: str) -> tuple[str, str] | None:
    """``(user, exchange)``, or None for a field from before arming was per exchange (a bare
    user id: ``services.executor.live.migrate_armed`` disarms those at start)."""
    user, sep, exchange = field.rpartition(ARMED_SEP)
    return (user, exchange) if sep and user and exchange else None


class TradingState(StrEnum):
    """The emergency stop as a state, not a boolean: ACTIVE until an operator halts."""

    ACTIVE = "ACTIVE"
    HALTED = "HALTED"


def cred_status_key(user_id: str, exchange: str) -> str:
    return f"piggy:credstatus:{user_id}:{exchange}"


def price_key(exchange: str, symbol: str) -> str:
    return f"piggy:price:{exchange}:{symbol}"


def market_rules_key(exchange: str, symbol: str) -> str:
    """A market's fee and rounding rules (``shared.paperfill.MarketRules`` JSON), next to its
    price: the gateway writes both, the executor reads both for a paper fill."""
    return f"piggy:price:rules:{exchange}:{symbol}"


async def trading_state(redis: aredis.Redis) -> TradingState:
    return TradingState.HALTED if await redis.exists(KILL) else TradingState.ACTIVE


async def halt(redis: aredis.Redis, by: str, reason: str) -> None:
    await redis.set(KILL, json.dumps({"by": by, "reason": reason, "ts": time.time()}))


async def resume(redis: aredis.Redis) -> None:
    await redis.delete(KILL)


async def record_heartbeat(redis: aredis.Redis, instance_id: str, now: float) -> None:
    await redis.zadd(HEARTBEATS, {instance_id: now})


async def freshest_heartbeat(redis: aredis.Redis) -> float | None:
    top = await redis.zrange(HEARTBEATS, -1, -1, withscores=True)
    return float(top[0][1]) if top else None


async def credential_status(redis: aredis.Redis, user_id: str, exchange: str) -> dict[str, str]:
    return as_str_map(await redis.hgetall(cred_status_key(user_id, exchange)))


async def set_credential_status(redis: aredis.Redis, user_id: str, exchange: str,
                                fields: dict[str, Any]) -> None:
    key = cred_status_key(user_id, exchange)
    await redis.hset(key, mapping={k: _flat(v) for k, v in fields.items()})


async def last_price(redis: aredis.Redis, exchange: str, symbol: str) -> Decimal | None:
    """The last ticker price; None when there is none or what is stored is not a price."""
    raw = await redis.get(price_key(exchange, symbol))
    price = parse_price(raw)
    if raw and price is None:
        log.warning("ignored an invalid price under %s", price_key(exchange, symbol))
    return price


def parse_price(raw: str | bytes | None) -> Decimal | None:
    """A stored price, or None when there is none or what is stored is not a positive price."""
    if not raw:
        return None
    try:
        price = Decimal(raw.decode() if isinstance(raw, bytes) else raw)
    except (InvalidOperation, TypeError, ValueError, UnicodeDecodeError):
        return None
    return price if price.is_finite() and price > 0 else None


async def set_last_price(redis: aredis.Redis, exchange: str, symbol: str, price: Decimal) -> None:
    await redis.set(price_key(exchange, symbol), format(price, "f"), ex=300)


async def set_market_rules(redis: aredis.Redis, exchange: str, symbol: str, rules: str) -> None:
    await redis.set(market_rules_key(exchange, symbol), rules, ex=86_400)


async def market_rules(redis: aredis.Redis, exchange: str, symbol: str) -> str | None:
    raw = await redis.get(market_rules_key(exchange, symbol))
    return raw.decode() if isinstance(raw, bytes) else raw


def _flat(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return "" if v is None else str(v)
