"""Executor wiring: the bus subscribers, the watchdog and /healthz, built once at start-up."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI

from services.executor import handlers, live
from services.executor.context import ExecutorContext
from services.executor.ledger import Ledger
from shared import streams
from shared.bus import Bus
from shared.events import CredentialsEvent, ExecutorCommand, OrderEvent, OrderIntent
from shared.service import add_healthz
from shared.settings import ExecutorSettings, RedisSettings, ServiceSettings

GROUP = "executor"


def bootstrap(*, redis_url: str | None = None, settings: ExecutorSettings | None = None,
              instance_id: str | None = None) -> ExecutorContext:
    service = ServiceSettings()
    bus = Bus(redis_url or RedisSettings().redis_url, "executor",
              instance_id if instance_id is not None else service.instance_id, service.claim_idle_ms)
    settings = settings or ExecutorSettings()
    ctx = ExecutorContext(bus=bus, ledger=Ledger(bus.redis), settings=settings)
    if settings.direct_route:
        from services.executor.direct import DirectRoute

        ctx.direct = DirectRoute.from_environment(bus.redis, bus.consumer)
    return ctx


def register(ctx: ExecutorContext) -> None:
    """The handler table: stream → schema → handler."""
    table = [
        (streams.INTENTS, OrderIntent, handlers.on_intent),
        (streams.ORDER_EVENTS, OrderEvent, handlers.on_order_event),
        (streams.CREDENTIALS, CredentialsEvent, live.on_credentials),
        (streams.COMMANDS, ExecutorCommand, live.on_command),
    ]
    for stream, schema, handler in table:
        bound = partial(handler, ctx)
        bound.__name__ = handler.__name__  # type: ignore[attr-defined]
        ctx.bus.consume(stream, GROUP, schema)(bound)


def create_app(ctx_factory: Callable[[], ExecutorContext] = bootstrap) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = ctx_factory()
        app.state.ctx, app.state.bus = ctx, ctx.bus
        register(ctx)
        await ctx.bus.start()
        watchdog = asyncio.create_task(live.watch_heartbeat(ctx))
        try:
            yield
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await ctx.bus.stop()
            if ctx.direct is not None:
                await ctx.direct.close()

    app = FastAPI(title="CryptoPiggy executor", lifespan=lifespan)
    add_healthz(app, "executor")
    return app
