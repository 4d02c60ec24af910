"""The runner: feeds strategies tickers, clock ticks and outcomes; commits and publishes.

Every step is: load the strategy's state from Redis, call the pure core, commit the new
state together with the intents it drafted (compare-and-set, one claim per intent id, an
outbox), then publish the intents and clear them from the outbox. A strategy that raises is
logged and marked failed; the others carry on. Nothing here decides *what* to trade.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aredis

from services.strategy.base import IntentDraft, Strategy, StrategyConfig
from services.strategy.config import KINDS, Kinds, build
from services.strategy.store import StrategyStore, intent_on_stream
from shared import tradelog
from shared.events import OrderIntent, Ticker, TradeLogged

log = logging.getLogger("piggy.strategy")

Clock = Callable[[], datetime]
Publish = Callable[[OrderIntent], Awaitable[None]]
Action = Callable[[Strategy[Any, Any]], list[IntentDraft]]
MAX_CAS_ATTEMPTS = 8


def wall_clock() -> datetime:
    return datetime.now(UTC)


def source_of(name: str) -> str:
    return f"strategy:{name}"


def to_intent(config: StrategyConfig, draft: IntentDraft) -> OrderIntent:
    return OrderIntent(
        intent_id=draft.intent_id, correlation_id=draft.intent_id, user_id=config.user_id,
        exchange=config.exchange, symbol=draft.symbol, side=draft.side,
        amount_usd=draft.amount_usd, source=source_of(config.name),
        await_outcome=False,  # nobody blocks on a strategy's intent: no outcome key
    )


@dataclass
class Slot:
    config: StrategyConfig
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    status: str = "starting"  # running | stopped | failed | starting

    @property
    def name(self) -> str:
        return self.config.name


class Runner:
    def __init__(self, configs: list[StrategyConfig], store: StrategyStore, publish: Publish, *,
                 streams_redis: aredis.Redis, clock: Clock = wall_clock, kinds: Kinds = KINDS,
                 instance: str = "", max_ticker_age_s: float = 60.0,
                 outbox_grace_s: float = 2.0) -> None:
        self.slots = {c.name: Slot(c) for c in configs}
        self.store = store
        self.publish = publish
        self.streams_redis = streams_redis  # binary client: stream entries are not UTF-8
        self.clock = clock
        self.kinds = kinds
        self.instance = instance
        self.max_ticker_age = timedelta(seconds=max_ticker_age_s)
        self.outbox_grace = timedelta(seconds=outbox_grace_s)

    # ---- entry points ------------------------------------------------------------------

    async def start(self) -> None:
        """Register configs, refresh control flags, apply outcomes logged while we were down."""
        log.info("strategies configured: %s",
                 ", ".join(self.slots) or "none (point PIGGY_STRATEGY_FILE at a strategies file)")
        for slot in self.slots.values():
            await self.store.register(slot.name, slot.config.model_dump_json())
            await self._refresh(slot)
            if slot.status == "running":
                await self._reconcile_outcomes(slot)

    async def tick(self) -> None:
        for slot in self.slots.values():
            try:
                await self._refresh(slot)
                if slot.status != "running":
                    continue
                await self._flush_outbox(slot)
                strat = await self._step(slot, lambda s: s.on_tick(self.clock()), "tick")
                if strat is not None:
                    await self.store.set_status(slot.name, self._status(slot, strat))
            except aredis.RedisError as exc:  # infrastructure, not the strategy: retry next tick
                log.warning("strategy %s: tick skipped, Redis error: %s", slot.name, exc)

    async def on_ticker(self, ticker: Ticker) -> None:
        now = self.clock()
        if now - ticker.ts > self.max_ticker_age:
            log.debug("ticker %s %s is stale (%s), ignored", ticker.symbol, ticker.event_id, ticker.ts)
            return
        for slot in self.slots.values():
            cfg = slot.config
            if slot.status == "running" and (cfg.symbol, cfg.exchange) == (ticker.symbol, ticker.exchange):
                await self._step(slot, lambda s: s.on_ticker(ticker, now), "ticker")

    async def on_trade(self, trade: TradeLogged) -> None:
        slot = self._owner(trade)
        if slot is not None and slot.status != "failed":
            await self._step(slot, lambda s: s.on_outcome(trade, self.clock()), "outcome")

    # ---- the step ------------------------------------------------------------------------

    async def _step(self, slot: Slot, action: Action, what: str) -> Strategy[Any, Any] | None:
        async with slot.lock:
            for _ in range(MAX_CAS_ATTEMPTS):
                record = await self.store.load(slot.name)
                try:
                    strat = build(slot.config, record.state, self.kinds)
                    drafts = action(strat)
                    state_json = strat.state.model_dump_json()
                    intents = [to_intent(slot.config, d) for d in drafts]
                except Exception as exc:  # a strategy bug must not stop the others
                    await self._fail(slot, what, exc)
                    return None
                notes = strat.drain_notes()
                if not intents and state_json == record.state:
                    self._log_notes(slot, notes)
                    return strat
                commit = await self.store.commit(slot.name, record.version, state_json, intents)
                if not commit.ok:
                    continue  # another replica (or handler) moved the state: decide again
                self._log_notes(slot, notes)
                for intent_id in commit.already:
                    log.warning("strategy %s: intent %s was committed before; not sent again",
                                slot.name, intent_id)
                for intent in commit.claimed:
                    await self._send(slot, intent)
                return strat
            log.warning("strategy %s: state kept changing under %s; will retry", slot.name, what)
            return None

    async def _send(self, slot: Slot, intent: OrderIntent) -> None:
        await self.publish(intent)
        await self.store.sent(slot.name, intent.intent_id)
        log.info("strategy %s: intent %s %s %s %s USD", slot.name, intent.intent_id,
                 intent.side.value, intent.symbol, intent.amount_usd)

    async def _fail(self, slot: Slot, what: str, exc: Exception) -> None:
        slot.status = "failed"
        log.error("strategy %s failed in %s, marked failed; others continue: %s: %s",
                  slot.name, what, type(exc).__name__, exc, exc_info=exc)
        await self.store.set_status(slot.name, {
            "status": "failed", "last_error": f"{type(exc).__name__}: {exc}"[:500],
            "failed_at": self.clock().isoformat(), "instance": self.instance,
        })

    # ---- housekeeping -------------------------------------------------------------------

    async def _refresh(self, slot: Slot) -> None:
        """Honour the control flag and a ``failed`` mark set by any replica."""
        status = await self.store.status(slot.name)
        if status.get("status") == "failed":
            slot.status = "failed"
            return
        control = await self.store.control(slot.name)
        desired = control or ("run" if slot.config.enabled else "stop")
        new = "running" if desired == "run" else "stopped"
        if new != slot.status or status.get("status") != new:
            log.info("strategy %s: %s", slot.name, new)
            await self.store.set_status(slot.name, {"status": new, "instance": self.instance})
        slot.status = new

    async def _flush_outbox(self, slot: Slot) -> None:
        """Publish committed intents a crashed process left unsent (unless already on the stream)."""
        for intent in await self.store.outbox(slot.name):
            if self.clock() - intent.ts < self.outbox_grace:
                continue  # probably being sent right now by whoever committed it
            if await intent_on_stream(self.streams_redis, intent.intent_id):
                await self.store.sent(slot.name, intent.intent_id)
                continue
            log.warning("strategy %s: sending %s left in the outbox", slot.name, intent.intent_id)
            await self._send(slot, intent)

    async def _reconcile_outcomes(self, slot: Slot) -> None:
        record = await self.store.load(slot.name)
        try:
            awaiting = build(slot.config, record.state, self.kinds).awaiting()
        except Exception as exc:  # a bad stored state fails only this strategy
            await self._fail(slot, "load", exc)
            return
        for intent_id in awaiting:
            found = await tradelog.read(self.streams_redis, intent_id=intent_id, limit=1)
            if found:
                await self.on_trade(found[0])

    def _owner(self, trade: TradeLogged) -> Slot | None:
        if trade.source.startswith("strategy:"):
            return self.slots.get(trade.source.removeprefix("strategy:"))
        parts = trade.intent_id.split(":")
        return self.slots.get(parts[1]) if len(parts) == 3 else None

    def _status(self, slot: Slot, strat: Strategy[Any, Any]) -> dict[str, Any]:
        now = self.clock()
        return {"status": slot.status, "kind": slot.config.kind, "instance": self.instance,
                "updated": now.isoformat(), **strat.status(now)}

    @staticmethod
    def _log_notes(slot: Slot, notes: list[str]) -> None:
        for text in notes:
            log.info("strategy %s: %s", slot.name, text)
