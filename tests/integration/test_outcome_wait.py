"""Waiting for an intent's outcome (``shared/outcomes.py``): the executor's commit writes it on
the intent's own key, a caller blocks on it with one read, a second caller gets the same
answer, the key expires, and a caller after that still gets the line from the trade log.
Real Redis, the real executor and gateway apps, the sandbox over HTTP (live); under Sentinel
with the services' own ACL users, across a failover."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis
import redis.asyncio as aredis

from piggy.ha_redis import MASTER
from shared import outcomes, redis_conn, state, streams
from shared.bus import Bus
from shared.events import ArmLive, OrderIntent
from shared.settings import ExecutorSettings
from tests.integration.gateway_support import running_gateway
from tests.support.ha_redis import ha_cluster
from tests.support.inprocess import ask_executor, client_bus, executor

pytestmark = pytest.mark.integration

PAPER = {"userId": "ola", "exchange": "binanceus", "symbolCcxt": "BTC/USDT", "amountUsd": "5"}


async def _until(check, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
    return found


async def test_paper_outcome_reaches_every_waiter_and_its_key_expires(redis_url: str,
                                                                      tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path, reply_timeout_s=10) as gw, \
            executor(redis_url), client_bus(redis_url) as bus:
        redis_ = gw.ctx.bus.redis
        await _until(lambda: state.last_price(redis_, "binanceus", "BTC/USDT"))
        # two callers block on an intent before it exists; both get the one outcome
        intent = OrderIntent(user_id="ola", symbol="BTC/USDT", amount_usd=Decimal(3))
        waiters = [asyncio.create_task(outcomes.wait(bus.redis, intent.intent_id, 10))
                   for _ in range(2)]
        await asyncio.sleep(0.2)
        assert not any(w.done() for w in waiters)
        await bus.publish(intent, streams.INTENTS)
        first, second = await asyncio.gather(*waiters)
        # the API's own wait, and a later look at the same intent
        placed = await gw.http.post("/api/trade", json=PAPER)
        assert placed.status_code == 200, placed.text
        api_id = placed.json()["intentId"]
        ttl = await redis_.ttl(outcomes.key(api_id))
        again = await outcomes.wait(redis_, api_id, 5)
    assert first is not None and first == second
    assert (first.intent_id, first.mode.value, first.status) == (intent.intent_id, "PAPER",
                                                                 "filled")
    assert placed.json()["mode"] == "PAPER" and placed.json()["status"] == "filled"
    assert again is not None and again.order_id == placed.json()["orderId"]
    assert 0 < ttl <= ExecutorSettings().outcome_key_ttl_s


async def test_an_intent_nobody_waits_on_is_logged_without_an_outcome_key(redis_url: str) -> None:
    """A strategy's intents (``await_outcome=False``) cost Redis no outcome key: logged, and a
    wait for one answers from the trade log once its short blocking read ends."""
    async with executor(redis_url), client_bus(redis_url) as bus:
        await state.set_last_price(bus.redis, "binanceus", "BTC/USDT", Decimal(50000))
        quiet = OrderIntent(user_id="ola", symbol="BTC/USDT", amount_usd=Decimal(3),
                            await_outcome=False)
        awaited = OrderIntent(user_id="ola", symbol="BTC/USDT", amount_usd=Decimal(3))
        await bus.publish(quiet, streams.INTENTS)
        await bus.publish(awaited, streams.INTENTS)
        seen = await outcomes.wait(bus.redis, awaited.intent_id, 10)
        line = await _until(lambda: outcomes.wait(bus.redis, quiet.intent_id, 0.2))
        keys = [await bus.redis.exists(outcomes.key(i.intent_id)) for i in (quiet, awaited)]
    assert seen is not None and seen.status == "filled"
    assert line.intent_id == quiet.intent_id and line.status == "filled"
    assert keys == [0, 1]


async def test_after_the_key_expired_the_trade_log_answers(redis_url: str,
                                                           tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path, reply_timeout_s=10) as gw, \
            executor(redis_url, ExecutorSettings(outcome_key_ttl_s=1)):
        redis_ = gw.ctx.bus.redis
        await _until(lambda: state.last_price(redis_, "binanceus", "BTC/USDT"))
        placed = await gw.http.post("/api/trade", json=PAPER)
        assert placed.status_code == 200, placed.text
        intent_id = placed.json()["intentId"]
        await _until(lambda: _gone(redis_, outcomes.key(intent_id)))
        late = await outcomes.wait(redis_, intent_id, 0.2)
        never = await outcomes.wait(redis_, "no-such-intent", 0.2)
    assert late is not None and late.order_id == placed.json()["orderId"]
    assert never is None


async def _gone(r: aredis.Redis, key: str) -> bool:
    return not await r.exists(key)


async def test_live_outcome_reaches_the_api_caller_and_a_second_wait(redis_url: str,
                                                                      tmp_path: Path) -> None:
    settings = ExecutorSettings(allow_live=True, heartbeat_max_age_s=30)
    async with running_gateway(redis_url, tmp_path, reply_timeout_s=15) as gw, \
            executor(redis_url, settings), client_bus(redis_url) as bus:
        redis_ = gw.ctx.bus.redis
        await gw.add_user("liv")
        await state.set_credential_status(redis_, "liv", "binanceus",
                                          {"status": "validated", "can_trade": True})
        assert (await ask_executor(bus, ArmLive(user_id="liv", exchange="binanceus"))).armed
        await _until(lambda: state.last_price(redis_, "binanceus", "BTC/USDT"))
        await _until(lambda: state.freshest_heartbeat(redis_))
        placed = await gw.http.post("/api/trade", json={**PAPER, "userId": "liv",
                                                        "mode": "live"})
        assert placed.status_code == 200, placed.text
        again = await outcomes.wait(bus.redis, placed.json()["intentId"], 5)
        orders = await gw.admin.orders()
    body = placed.json()
    assert body["mode"] == "LIVE" and body["orderId"]
    assert again is not None and again.order_id == body["orderId"]
    assert again.client_order_id == body["clientOrderId"]
    assert [o["clientOrderId"] for o in orders] == [body["clientOrderId"]]


def test_under_sentinel_a_waiter_follows_a_failover_and_falls_back_to_the_trade_log(
        tmp_path: Path) -> None:
    """As the services' own users: the executor writes the outcome, the gateway's user blocks
    on it (its ACL allows exactly that read); a wait that spans a failover is answered by the
    new primary; a missed key (deleted here) is answered from the trade log."""
    with ha_cluster(tmp_path) as ha:
        async def run() -> None:
            waiter = redis_conn.async_client(ha.url("gateway"), decode_responses=True)
            operator = redis_conn.async_client(ha.url(), decode_responses=True)
            publisher = Bus(ha.url("gateway"), "gateway", "gw-test")
            await publisher.broker.connect()
            try:
                await state.set_last_price(operator, "binanceus", "BTC/USDT", Decimal(50000))
                async with executor(ha.url("executor")):
                    before = OrderIntent(user_id="ha", symbol="BTC/USDT", amount_usd=Decimal(3))
                    pending = asyncio.create_task(outcomes.wait(waiter, before.intent_id, 30))
                    await publisher.publish_durable(before, streams.INTENTS)
                    first = await pending
                    assert first is not None and first.intent_id == before.intent_id
                    # a wait under way while the primary changes
                    across = OrderIntent(user_id="ha", symbol="BTC/USDT", amount_usd=Decimal(4))
                    pending = asyncio.create_task(outcomes.wait(waiter, across.intent_id, 60))
                    old = ha.primary_port()
                    with redis.Redis(host="127.0.0.1", port=ha.ports.sentinels[0],
                                     username="operator",
                                     password=ha.passwords["operator"]) as sentinel:
                        sentinel.execute_command("SENTINEL", "FAILOVER", MASTER)
                    await asyncio.to_thread(ha.wait_primary_change, old)
                    ha.ha.demote(old)
                    await _publish_until_ok(publisher, across)
                    second = await pending
                    assert second is not None and second.intent_id == across.intent_id
                    # a caller whose read misses the key still finds the logged outcome
                    await _delete_until_ok(operator, outcomes.key(before.intent_id))
                    late = await outcomes.wait(waiter, before.intent_id, 0.3)
                    assert late == first
            finally:
                await publisher.broker.stop()
                await publisher.redis.aclose()
                await waiter.aclose()
                await operator.aclose()

        asyncio.run(run())


async def _publish_until_ok(bus: Bus, intent: OrderIntent, tries: int = 100) -> None:
    for _ in range(tries):
        try:
            await bus.publish_durable(intent, streams.INTENTS)
            return
        except Exception:  # the new primary is still being found: publish again (deduped)
            await asyncio.sleep(0.2)
    raise AssertionError("the intent never reached a primary")


async def _delete_until_ok(client: aredis.Redis, key: str, tries: int = 100) -> None:
    for _ in range(tries):
        try:
            await client.delete(key)
            return
        except (aredis.ConnectionError, aredis.TimeoutError, aredis.ReadOnlyError):
            await asyncio.sleep(0.1)  # the connection still reached the old primary
    raise AssertionError("no delete reached a primary")
