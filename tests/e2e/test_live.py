"""The live path as an operator runs it: real processes, the real CLI, the sandbox over HTTP."""
from __future__ import annotations

import asyncio
import os
import time
from decimal import Decimal
from pathlib import Path

import pytest

from piggy.ops import wait_outcome
from piggy.stack import Stack
from sandbox.admin import SandboxAdmin
from services.executor.routing import client_order_id
from shared import state, streams, tradelog
from shared.events import OrderIntent
from tests.support.inprocess import client_bus
from tests.support.stack import piggy, running_stack

pytestmark = pytest.mark.e2e

LIVE_ENV = {"ALLOW_LIVE": "1", "PIGGY_HEARTBEAT_MAX_AGE_S": "3", "PIGGY_CLAIM_IDLE_MS": "1000"}


def _keys(stack: Stack, user: str) -> None:
    """A sandbox key with funds, saved and validated through the real CLI."""
    key = SandboxAdmin(stack.sandbox_url).create_key(balances={"USDT": "1000"})
    saved = piggy_env(stack, {"PIGGY_API_SECRET": key["secret"]}, "keys", "set", "--user", user,
                      "--exchange", "binanceus", "--api-key", key["api_key"])
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert "validated" in saved.stdout.lower()


def piggy_env(stack: Stack, env: dict[str, str], *args: str):
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return piggy(stack, *args)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _arm(stack: Stack, user: str) -> None:
    armed = piggy(stack, "live", "arm", "--user", user)
    assert armed.returncode == 0, armed.stdout + armed.stderr
    assert "LIVE ARMED" in armed.stdout


def _armed_user(stack: Stack, user: str) -> None:
    _keys(stack, user)
    _arm(stack, user)


def test_armed_test_buy_places_one_live_order_at_the_sandbox(redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, LIVE_ENV) as stack:
        _armed_user(stack, "liz")
        bought = piggy(stack, "test-buy", "--usd", "2", "--user", "liz")
        assert bought.returncode == 0, bought.stdout + bought.stderr
        assert "LIVE" in bought.stdout
        lines = asyncio.run(_lines(redis_url, "liz"))
        assert len(lines) == 1 and lines[0].mode.value == "LIVE" and lines[0].status == "filled"
        orders = SandboxAdmin(stack.sandbox_url).orders()
        assert len(orders) == 1
        assert orders[0]["clientOrderId"] == client_order_id(lines[0].intent_id)
        assert str(orders[0]["orderId"]) == lines[0].order_id
        spent = Decimal(orders[0]["cummulativeQuoteQty"])
        # never below the $2 asked: a quote order the 0.00001 BTC step would cut below $2 goes
        # as the next step's quantity (at most one step, ~$0.50, above), and the line says so
        assert Decimal("1.995") <= spent <= Decimal("2.60")
        assert lines[0].cost == spent and lines[0].filled == Decimal(orders[0]["executedQty"])
        assert f"for ${spent.normalize():f}"[:8] in bought.stdout


def test_without_allow_live_the_test_buy_says_so_and_nothing_goes_live(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, {"PIGGY_HEARTBEAT_MAX_AGE_S": "3"}) as stack:
        _keys(stack, "max")
        refused = piggy(stack, "live", "arm", "--user", "max")
        assert refused.returncode == 3  # refused by a rule
        assert "ALLOW_LIVE=1 is not set" in refused.stdout
        bought = piggy(stack, "test-buy", "--usd", "2", "--user", "max")
        assert "PAPER" in bought.stdout and "ALLOW_LIVE=1 is not set" in bought.stdout
        assert SandboxAdmin(stack.sandbox_url).orders() == []


def test_after_kill_a_hundred_intents_in_flight_produce_no_live_order(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, LIVE_ENV) as stack:
        _armed_user(stack, "ned")
        outcomes = asyncio.run(_kill_during_burst(stack, redis_url, "ned", 100))
        assert SandboxAdmin(stack.sandbox_url).orders() == []
        assert len(outcomes) == 100
        assert all(ln.mode.value != "LIVE" or ln.status == "rejected" for ln in outcomes)
        assert any("kill_switch" in " ".join(ln.reasons) for ln in outcomes)


async def _kill_during_burst(stack: Stack, redis_url: str, user: str, n: int) -> list:
    async with client_bus(redis_url) as bus:
        intents = [OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2)) for _ in range(n)]
        await state.halt(bus.redis, "test", "drill")
        await asyncio.gather(*(bus.publish(i, streams.INTENTS) for i in intents))
        return [await wait_outcome(bus, i.intent_id, 30) for i in intents]


def test_stopping_the_gateway_disarms_live_within_the_heartbeat_age(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, LIVE_ENV) as stack:
        _armed_user(stack, "ola")
        gateway = next(c for c in stack.children if c.name == "gateway")
        gateway.stop()
        stopped_at = time.monotonic()
        disarmed_after = asyncio.run(_wait_disarmed(redis_url, "ola", 15))
        assert disarmed_after is not None, "live stayed armed after the gateway stopped"
        assert disarmed_after - stopped_at <= 3 + 1.5
        lines = asyncio.run(_lines(redis_url, "ola"))
        assert lines[0].status == "disarmed" and "heartbeat" in lines[0].reasons[0]


def test_intent_published_twice_and_a_consumer_killed_mid_intent_yield_one_order_each(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, LIVE_ENV) as stack:
        _armed_user(stack, "pia")
        executor = next(c for c in stack.children if c.name == "executor")
        twice, orphan = asyncio.run(_twice_and_orphaned(redis_url, "pia", executor))
        orders = SandboxAdmin(stack.sandbox_url).orders()
        by_cid = {o["clientOrderId"] for o in orders}
        assert len(orders) == 2
        assert by_cid == {client_order_id(twice), client_order_id(orphan)}


async def _twice_and_orphaned(redis_url: str, user: str, executor) -> tuple[str, str]:
    async with client_bus(redis_url) as bus:
        twice = OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(twice, streams.INTENTS)
        await bus.publish(twice, streams.INTENTS)
        assert await wait_outcome(bus, twice.intent_id, 20) is not None
        # SIGKILL the executor, then leave exactly what a kill between claiming and acking
        # leaves: the entry pending for a consumer that is gone, the ledger claimed by it.
        executor.proc.kill()
        executor.proc.wait(10)
        orphan = OrderIntent(user_id=user, symbol="BTC/USDT", amount_usd=Decimal(2))
        await bus.publish(orphan, streams.INTENTS)
        assert await _steal_next(bus, "executor-killed")
        await bus.redis.hsetnx(f"piggy:ledger:{orphan.intent_id}", "claimed_by", "executor-killed")
        await bus.redis.hsetnx(f"piggy:ledger:{orphan.intent_id}", "intent", orphan.model_dump_json())
        executor.start()  # the restarted replica claims the idle entry and finishes it
        line = await wait_outcome(bus, orphan.intent_id, 20)
        assert line is not None and line.mode.value == "LIVE", line
        await asyncio.sleep(1.0)
        assert len(await tradelog.read(bus.redis, intent_id=twice.intent_id)) == 1
        return twice.intent_id, orphan.intent_id


async def _steal_next(bus, consumer: str) -> list:
    """Read the next new intent as a consumer that then dies without acking."""
    return await bus.redis.execute_command(
        "XREADGROUP", "GROUP", "executor", consumer, "COUNT", 1, "STREAMS", streams.INTENTS, ">",
        NEVER_DECODE=True)


async def _wait_disarmed(redis_url: str, user: str, timeout: float) -> float | None:
    async with client_bus(redis_url) as bus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not await bus.redis.hexists(state.ARMED, state.armed_field(user, "binanceus")):
                return time.monotonic()
            await asyncio.sleep(0.05)
    return None


async def _lines(redis_url: str, user: str) -> list:
    async with client_bus(redis_url) as bus:
        return await tradelog.read(bus.redis, user_id=user)
