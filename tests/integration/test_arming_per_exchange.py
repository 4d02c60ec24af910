"""Live arming is per (user, exchange), against a real Redis and a running executor: arm, the
armed gate, disarm, the auto-disarm on revoked or replaced keys, the metric, and the migration
of arming stored before it was per exchange."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from piggy.ops import wait_outcome
from shared import state, streams
from shared.events import (
    ArmLive,
    CredentialsRevoked,
    CredentialsSubmitted,
    DisarmLive,
    OrderIntent,
    QueryLive,
)
from shared.metrics import Metrics
from shared.settings import ExecutorSettings
from tests.support.inprocess import ask_executor, client_bus, executor

pytestmark = pytest.mark.integration


async def _ready(redis, user: str, *exchanges: str) -> None:
    for exchange in exchanges:
        await state.set_credential_status(redis, user, exchange,
                                          {"status": "validated", "can_trade": True})
    await state.record_heartbeat(redis, "gateway-test", time.time())


async def _armed(bus, user: str, exchange: str) -> bool:
    return (await ask_executor(bus, QueryLive(user_id=user, exchange=exchange))).armed


async def _until(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_arming_one_exchange_arms_only_that_exchange(redis_url: str) -> None:
    async with executor(redis_url, ExecutorSettings(allow_live=True)), \
            client_bus(redis_url) as bus:
        await _ready(bus.redis, "mia", "binanceus", "kraken")
        armed = await ask_executor(bus, ArmLive(user_id="mia", exchange="binanceus"))
        assert armed.ok and armed.armed and armed.exchange == "binanceus"
        assert await _armed(bus, "mia", "binanceus")
        kraken = await ask_executor(bus, QueryLive(user_id="mia", exchange="kraken"))
        assert not kraken.armed and any(c.startswith("armed:") for c in kraken.closed)
        # an intent on kraken finds the armed gate closed there (paper, naming the gate)
        await state.set_last_price(bus.redis, "kraken", "BTC/USD", Decimal(50000))
        intent = OrderIntent(user_id="mia", exchange="kraken", symbol="BTC/USD",
                             amount_usd=Decimal(10))
        await bus.publish(intent, streams.INTENTS)
        line = await wait_outcome(bus, intent.intent_id, 10)
        assert line is not None and line.mode.value == "PAPER"
        assert [r.split(":")[0] for r in line.reasons] == ["armed"]
        metrics = Metrics("test")
        await metrics.refresh(bus.redis, [])
        assert metrics.armed_users.labels("binanceus")._value.get() == 1
        assert metrics.armed_users.labels("kraken")._value.get() == 0
        # disarming kraken leaves binanceus armed; a disarm without exchange disarms all
        await ask_executor(bus, ArmLive(user_id="mia", exchange="kraken"))
        await ask_executor(bus, DisarmLive(user_id="mia", exchange="kraken"))
        assert await _armed(bus, "mia", "binanceus") and not await _armed(bus, "mia", "kraken")
        await ask_executor(bus, ArmLive(user_id="mia", exchange="kraken"))
        await ask_executor(bus, DisarmLive(user_id="mia", everywhere=True))
        assert not await _armed(bus, "mia", "binanceus")
        assert not await _armed(bus, "mia", "kraken")


async def test_keys_revoked_or_replaced_on_one_exchange_disarm_only_there(
        redis_url: str) -> None:
    async with executor(redis_url, ExecutorSettings(allow_live=True)), \
            client_bus(redis_url) as bus:
        await _ready(bus.redis, "noa", "binanceus", "kraken", "coinbase")
        for exchange in ("binanceus", "kraken", "coinbase"):
            assert (await ask_executor(bus, ArmLive(user_id="noa", exchange=exchange))).armed
        await bus.publish(CredentialsRevoked(user_id="noa", exchange="kraken", reason="gone"),
                          streams.CREDENTIALS)
        await bus.publish(CredentialsSubmitted(user_id="noa", exchange="coinbase",
                                               vault_ref="piggy:vault:noa:coinbase",
                                               api_key_masked="ab…cd"), streams.CREDENTIALS)

        async def both_disarmed() -> bool:
            return not await _armed(bus, "noa", "kraken") and \
                not await _armed(bus, "noa", "coinbase")
        assert await _until(both_disarmed)
        assert await _armed(bus, "noa", "binanceus")


async def test_arming_stored_before_it_was_per_exchange_is_removed_at_start(
        redis_url: str) -> None:
    async with client_bus(redis_url) as bus:
        await bus.redis.hset(state.ARMED, "oli", "1700000000")  # the old layout: a bare user id
        async with executor(redis_url, ExecutorSettings(allow_live=True)):
            assert not await bus.redis.hexists(state.ARMED, "oli")
            assert not await _armed(bus, "oli", "binanceus")
