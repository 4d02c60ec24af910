"""Executor wiring: the bus subscribers, the watchdog and /healthz, built once at start-up."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import FastAPI

from services.executor import handlers, live, reconciler
from services.executor.context import ExecutorContext
from services.executor.ledger import Ledger
from shared import streams
from shared.bus import Bus
from shared.events import CredentialsEvent, ExecutorCommand, OrderEvent, OrderIntent
from shared.service import Lifecycle, service_app
from shared.settings import ExecutorSettings, RedisSettings, ServiceSettings

GROUP = "executor"


def bootstrap(*, redis_url: str | None = None, settings: ExecutorSettings | None = None,
              instance_id: str | None = None) -> ExecutorContext:
    service = ServiceSettings()
    redis = RedisSettings()
    url = redis_url or redis.url()
    bus = Bus(url, "executor",
              instance_id if instance_id is not None else service.instance_id,
              service.claim_idle_ms, durability=redis.durability(url))
    settings = settings or ExecutorSettings()
    ledger = Ledger(bus.redis, bus.durability, outcome_ttl_s=settings.outcome_key_ttl_s)
    ctx = ExecutorContext(bus=bus, ledger=ledger, settings=settings)
    if settings.direct_route:
        from services.executor.direct import DirectRoute

        ctx.direct = DirectRoute.from_environment(bus.redis, bus.consumer, bus.durability)
    return ctx


def register(ctx: ExecutorContext) -> None:
    """The handler table: stream → schema → handler. Intents and order outcomes are read in
    batches (one ledger call in, one out, per batch); commands and credentials one by one."""
    batched = [
        (streams.INTENTS, OrderIntent, handlers.on_intents),
        (streams.ORDER_EVENTS, OrderEvent, handlers.on_order_events),
    ]
    for stream, schema, handler in batched:
        ctx.bus.consume_batch(stream, GROUP, schema, max_records=ctx.settings.batch_size)(
            _bound(handler, ctx))
    single = [
        (streams.CREDENTIALS, CredentialsEvent, live.on_credentials),
        (streams.COMMANDS, ExecutorCommand, live.on_command),
    ]
    for stream, schema, one in single:
        ctx.bus.consume(stream, GROUP, schema)(_bound(one, ctx))


def _bound(handler: Callable[..., Any], ctx: ExecutorContext) -> Any:
    bound = partial(handler, ctx)
    bound.__name__ = handler.__name__  # type: ignore[attr-defined]
    bound.__doc__ = handler.__doc__
    return bound


async def _start(ctx: ExecutorContext) -> None:
    await live.migrate_armed(ctx)  # arming from before it was per exchange must be redone
    ctx.watchdog = asyncio.create_task(live.watch_heartbeat(ctx))
    ctx.reconciler = asyncio.create_task(reconciler.run(ctx), name="reconciler")


async def _stop(ctx: ExecutorContext) -> None:
    for task in (ctx.watchdog, ctx.reconciler):
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if ctx.direct is not None:
        await ctx.direct.close()


def create_app(ctx_factory: Callable[[], ExecutorContext] = bootstrap) -> FastAPI:
    return service_app("executor", "CryptoPiggy executor", ctx_factory,
                       Lifecycle(register, _start, _stop))
