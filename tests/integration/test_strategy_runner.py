"""The strategy runner against a real Redis: commits, claims, outbox, isolation, control."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pytest
import redis.asyncio as aredis

from services.strategy.base import IntentDraft, StrategyConfig
from services.strategy.config import KINDS, parse
from services.strategy.dca import Dca, DcaConfig
from services.strategy.runner import Runner, to_intent
from services.strategy.store import StrategyStore
from shared import streams
from shared.bus import Bus, decode_entry
from shared.events import Mode, OrderIntent, Side, TradeLogged

pytestmark = pytest.mark.integration
T0 = datetime(2025, 1, 1, tzinfo=UTC)
BASE = {"user_id": "alice", "symbol": "BTC/USDT"}
DCA = {**BASE, "name": "pig", "kind": "dca", "amount_usd": "5", "interval_s": 60,
       "budget_usd": "1000"}


class BoomConfig(DcaConfig):
    kind: Literal["boom"] = "boom"  # type: ignore[assignment]


class Boom(Dca):
    """A DCA that raises from its third period on."""

    Config = BoomConfig

    def on_tick(self, now: datetime) -> list[IntentDraft]:
        if now >= T0 + timedelta(seconds=120):
            raise RuntimeError("kaboom")
        return super().on_tick(now)


KINDS_WITH_BOOM = {**KINDS, "boom": Boom}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def env(redis_url: str) -> AsyncIterator[dict[str, Any]]:
    bus = Bus(redis_url, "strategy-test")
    await bus.broker.connect()
    raw = aredis.from_url(redis_url)
    try:
        yield {"bus": bus, "raw": raw, "store": StrategyStore(bus.redis)}
    finally:
        await raw.aclose()
        await bus.stop()


def runner(env: dict[str, Any], configs: list[StrategyConfig], clock: Clock, **kw: Any) -> Runner:
    async def publish(intent: OrderIntent) -> None:
        await env["bus"].publish(intent, streams.INTENTS)

    return Runner(configs, env["store"], publish, streams_redis=env["raw"], clock=clock,
                  kinds=KINDS_WITH_BOOM, **kw)


async def intents(raw: aredis.Redis) -> list[dict[str, Any]]:
    return [decode_entry(f) for _, f in await raw.xrange(streams.INTENTS)]


def outcome(intent_id: str) -> TradeLogged:
    return TradeLogged(intent_id=intent_id, user_id="alice", symbol="BTC/USDT", side=Side.BUY,
                       amount_usd=Decimal(5), mode=Mode.PAPER, status="filled",
                       source="strategy:" + intent_id.split(":")[1])


async def run_periods(r: Runner, clock: Clock, seconds: int, step: int = 20) -> None:
    for _ in range(0, seconds, step):
        await r.tick()
        for body in await intents(r.streams_redis):
            await r.on_trade(outcome(body["intent_id"]))
        clock.now += timedelta(seconds=step)


async def test_published_intent_carries_source_user_and_decimal_amount(env: dict[str, Any]) -> None:
    clock = Clock()
    r = runner(env, parse({"strategies": [DCA]}), clock)
    await r.start()
    await r.tick()
    (body,) = await intents(env["raw"])
    intent = OrderIntent.model_validate(body)
    assert (intent.intent_id, intent.source, intent.user_id) == ("dca:pig:0", "strategy:pig", "alice")
    assert intent.amount_usd == Decimal(5) and body["amount_usd"] == "5"
    assert await env["store"].outbox("pig") == []


async def test_raising_strategy_is_logged_marked_failed_and_others_continue(
        env: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    configs = parse({"strategies": [DCA, {**DCA, "name": "boom", "kind": "boom"}]}, kinds=KINDS_WITH_BOOM)
    r = runner(env, configs, clock)
    await r.start()
    with caplog.at_level(logging.ERROR, logger="piggy.strategy"):
        await run_periods(r, clock, 300)
    ids = [b["intent_id"] for b in await intents(env["raw"])]
    assert [i for i in ids if i.startswith("dca:pig:")] == [f"dca:pig:{n}" for n in range(5)]
    assert [i for i in ids if i.startswith("dca:boom:")] == ["dca:boom:0", "dca:boom:1"]
    status = await env["store"].status("boom")
    assert status["status"] == "failed" and status["last_error"] == "RuntimeError: kaboom"
    assert (await env["store"].status("pig"))["status"] == "running"
    assert any("boom failed" in rec.getMessage() and rec.exc_info for rec in caplog.records)


async def test_two_replicas_ticking_together_send_one_intent_per_period(env: dict[str, Any]) -> None:
    clock = Clock()
    configs = parse({"strategies": [DCA]})
    a, b = runner(env, configs, clock, instance="a"), runner(env, configs, clock, instance="b")
    await a.start()
    await b.start()
    for _ in range(12):  # 4 minutes in 20 s steps, both replicas racing every tick
        await asyncio.gather(a.tick(), b.tick(), a.tick(), b.tick())
        for body in await intents(env["raw"]):
            await asyncio.gather(a.on_trade(outcome(body["intent_id"])),
                                 b.on_trade(outcome(body["intent_id"])))
        clock.now += timedelta(seconds=20)
    ids = [b["intent_id"] for b in await intents(env["raw"])]
    assert ids == [f"dca:pig:{n}" for n in range(4)]


async def test_committed_but_unsent_intent_is_sent_once_from_the_outbox(env: dict[str, Any]) -> None:
    clock = Clock()
    configs = parse({"strategies": [DCA]})
    store: StrategyStore = env["store"]
    # a process that died between commit and publish: state + claim + outbox, nothing sent
    strat = Dca(configs[0])
    (draft,) = strat.on_tick(T0)
    intent = to_intent(configs[0], draft).model_copy(update={"ts": T0})
    assert (await store.commit("pig", "0", strat.state.model_dump_json(), [intent])).ok
    r = runner(env, configs, clock)
    await r.start()
    clock.now = T0 + timedelta(seconds=5)
    await r.tick()
    await r.tick()
    assert [b["intent_id"] for b in await intents(env["raw"])] == ["dca:pig:0"]
    assert await store.outbox("pig") == []
    # the same commit again (a lost state write) is refused by the claim
    again = await store.commit("pig", (await store.load("pig")).version, "{}", [intent])
    assert again.ok and again.claimed == [] and again.already == ["dca:pig:0"]


async def test_stale_version_commit_is_refused(env: dict[str, Any]) -> None:
    store: StrategyStore = env["store"]
    assert (await store.commit("pig", "0", '{"a":1}', [])).ok
    assert not (await store.commit("pig", "0", '{"a":2}', [])).ok
    assert (await store.load("pig")).state == '{"a":1}'


async def test_stop_and_start_flags_are_honoured_and_start_clears_failed(env: dict[str, Any]) -> None:
    clock = Clock()
    store: StrategyStore = env["store"]
    r = runner(env, parse({"strategies": [DCA]}), clock)
    await r.start()
    await store.stop("pig")
    await run_periods(r, clock, 120)
    assert await intents(env["raw"]) == []
    assert (await store.status("pig"))["status"] == "stopped"
    await store.set_status("pig", {"status": "failed", "last_error": "x"})
    await store.start("pig")
    await run_periods(r, clock, 60)
    # periods count from the first run: nothing was ever due while it was stopped
    assert [b["intent_id"] for b in await intents(env["raw"])] == ["dca:pig:0"]
    assert (await store.status("pig"))["status"] == "running"
