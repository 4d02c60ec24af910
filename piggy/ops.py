"""What the CLI does against Redis directly: publish an intent and wait, read the log, halt."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from pydantic import BaseModel

from shared import outcomes, state, streams, tradelog
from shared.bus import Bus
from shared.events import KillSwitchEngaged, KillSwitchReleased, OrderIntent, Side, TradeLogged

PRICE_WAIT_S = 10.0


async def test_buy(redis_url: str, *, user_id: str, symbol: str, usd: Decimal, exchange: str,
                   timeout_s: float, side: Side = Side.BUY, source: str = "test-buy",
                   intent_id: str | None = None) -> tuple[OrderIntent, TradeLogged | None]:
    """Publish one intent and wait (bounded) for its trade-log line."""
    bus = Bus(redis_url, "cli")
    await bus.broker.connect()
    try:
        await wait_price(bus, exchange, symbol, min(timeout_s, PRICE_WAIT_S))
        fields = {"intent_id": intent_id} if intent_id else {}
        intent = OrderIntent(user_id=user_id, symbol=symbol, amount_usd=usd, exchange=exchange,
                             side=side, source=source, **fields)
        await bus.publish_durable(intent, streams.INTENTS)
        return intent, await wait_outcome(bus, intent.intent_id, timeout_s)
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()


async def wait_price(bus: Bus, exchange: str, symbol: str, timeout_s: float) -> bool:
    """Right after start-up the gateway may not have fetched a ticker yet, and the executor
    fills paper only at a real price: wait (bounded) for one. False: still none (the intent
    is then rejected, saying so)."""
    deadline = time.monotonic() + timeout_s
    while await state.last_price(bus.redis, exchange, symbol) is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def wait_outcome(bus: Bus, intent_id: str, timeout_s: float) -> TradeLogged | None:
    """The intent's trade line within ``timeout_s`` (``shared.outcomes.wait``: one blocking
    read, then the trade log once); None when none came."""
    return await outcomes.wait(bus.redis, intent_id, timeout_s)


async def trades(redis_url: str, user_id: str | None, limit: int) -> list[TradeLogged]:
    bus = Bus(redis_url, "cli")
    try:
        return await tradelog.read(bus.redis, user_id=user_id, limit=limit)
    finally:
        await bus.redis.aclose()


async def halt(redis_url: str, reason: str) -> None:
    """The emergency stop straight in Redis: works with the API or any service down."""
    bus = Bus(redis_url, "cli")
    await bus.broker.connect()
    try:
        await state.halt(bus.redis, "cli", reason)
        await bus.publish(KillSwitchEngaged(by="cli", reason=reason), streams.CONTROL)
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()


async def publish(redis_url: str, event: BaseModel, stream: str, timeout_s: float = 3.0) -> None:
    """Publish one event from outside a service (the supervisor's restart notices)."""
    bus = Bus(redis_url, "supervisor")
    try:
        await asyncio.wait_for(bus.broker.connect(), timeout_s)
        await asyncio.wait_for(bus.publish(event, stream), timeout_s)
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()


async def resume(redis_url: str) -> None:
    bus = Bus(redis_url, "cli")
    await bus.broker.connect()
    try:
        await state.resume(bus.redis)
        await bus.publish(KillSwitchReleased(by="cli"), streams.CONTROL)
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()
