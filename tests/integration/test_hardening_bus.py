"""Hardening on the bus, real Redis and the real executor: keys replaced or refused disarm the
user with a trade-log note; an entry a handler can never accept is dead-lettered on first sight;
an entry another replica is still on is retried past the delivery cap."""
from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel

from piggy import ops
from shared import state, streams, tradelog
from shared.bus import Bus, decode_entry
from shared.cids import PlacementInFlight
from shared.events import CredentialsRejected, CredentialsSubmitted, adapter
from tests.support.inprocess import client_bus, executor

pytestmark = pytest.mark.integration


async def _note(redis: Any, user: str) -> list[str]:
    for _ in range(200):
        lines = [ln for ln in await tradelog.read(redis, user_id=user) if ln.status == "disarmed"]
        if lines:
            return lines[0].reasons
        await asyncio.sleep(0.05)
    raise AssertionError(f"no disarm note for {user}")


@pytest.mark.parametrize(("event", "why"), [
    (CredentialsSubmitted(user_id="alice", exchange="binanceus", vault_ref="piggy:vault:alice:binanceus",
                          api_key_masked="abcd…wxyz"), "credentials replaced"),
    (CredentialsRejected(user_id="alice", exchange="binanceus", reason_code="wrong_secret",
                         reason="wrong secret"), "credentials rejected: wrong secret"),
])
async def test_replaced_or_refused_keys_disarm_the_user_with_a_note(
        redis_url: str, event: Any, why: str) -> None:
    async with executor(redis_url), client_bus(redis_url) as bus:
        for user, exchange in (("alice", "binanceus"), ("alice", "kraken"), ("bob", "binanceus")):
            await bus.redis.hset(state.ARMED, state.armed_field(user, exchange), "1")
        await bus.publish(event, streams.CREDENTIALS)
        reasons = await _note(bus.redis, "alice")
        armed = await bus.redis.hkeys(state.ARMED)
    assert any(why in r for r in reasons), reasons
    assert sorted(armed) == ["alice:kraken", "bob:binanceus"]  # that user, that exchange only


class Strict(BaseModel):
    amount: int


async def test_an_entry_its_handler_can_never_accept_is_dead_lettered_on_first_sight(
        redis_url: str) -> None:
    bus = Bus(redis_url, "test", "consumer-1", claim_idle_ms=60_000)
    calls: list[dict[str, Any]] = []

    @bus.consume("piggy:test:stream", "g", dict[str, Any])
    async def handler(body: dict[str, Any]) -> None:
        calls.append(body)
        Strict.model_validate(body)  # the handler's own schema check, like the strategy's

    await bus.start()
    try:
        await bus.broker.publish({"amount": "many"}, stream="piggy:test:stream")
        for _ in range(200):
            if await bus.redis.xlen(streams.DEAD_LETTER):
                break
            await asyncio.sleep(0.05)
        raw = await bus.redis.execute_command("XRANGE", streams.DEAD_LETTER, "-", "+",
                                              NEVER_DECODE=True)
        pending = await bus.redis.xpending("piggy:test:stream", "g")
    finally:
        await bus.stop()
    letters = [adapter(dict[str, Any]).validate_python(decode_entry(f)) for _, f in raw]
    assert len(calls) == 1 and len(letters) == 1
    assert letters[0]["reason"].startswith("schema: amount")
    assert pending["pending"] == 0  # acked: never retried


async def test_piggy_trades_reads_past_a_poison_line(redis_url: str) -> None:
    async with executor(redis_url), client_bus(redis_url) as bus:
        await state.set_last_price(bus.redis, "binanceus", "BTC/USDT", Decimal(40000))
        intent, line = await ops.test_buy(redis_url, user_id="alice", symbol="BTC/USDT",
                                          usd=Decimal(2), exchange="binanceus", timeout_s=10)
        await bus.broker.publish({"type": "TradeLogged", "user_id": "alice", "mode": "??"},
                                 stream=streams.TRADES)
        lines = await ops.trades(redis_url, "alice", 10)
    assert line is not None and [ln.intent_id for ln in lines] == [intent.intent_id]


@pytest.mark.parametrize("not_yet", [True, False])
async def test_an_entry_another_replica_is_on_is_retried_past_the_delivery_cap(
        redis_url: str, not_yet: bool) -> None:
    """``RetryLater`` (e.g. PlacementInFlight: a live replica is still placing that order)
    is not a failure: the entry is claimed again past ``max_deliveries`` until it can be
    handled. Any other exception is dead-lettered after ``max_deliveries`` (the control)."""
    bus = Bus(redis_url, "test", "consumer-1", claim_idle_ms=100)
    attempts: list[int] = []

    @bus.consume("piggy:test:slow", "g", dict[str, Any], max_deliveries=2)
    async def handler(body: dict[str, Any]) -> None:
        attempts.append(1)
        if len(attempts) <= 4:  # twice the cap
            raise (PlacementInFlight("being placed by gateway-x") if not_yet else
                   RuntimeError("broken"))

    await bus.start()
    try:
        await bus.broker.publish({"order": 1}, stream="piggy:test:slow")
        for _ in range(200):
            pending = (await bus.redis.xpending("piggy:test:slow", "g"))["pending"]
            if len(attempts) >= 3 and not pending:
                break
            await asyncio.sleep(0.05)
        letters = await bus.redis.xlen(streams.DEAD_LETTER)
    finally:
        await bus.stop()
    if not_yet:
        assert len(attempts) == 5 and letters == 0 and pending == 0  # handled on the 5th try
    else:
        assert len(attempts) == 2 and letters == 1 and pending == 0  # dead-lettered at the cap
