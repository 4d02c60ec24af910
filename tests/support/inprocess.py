"""Running a service's real app inside the test's event loop (real Redis, real broker)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from services.executor.app import bootstrap as executor_bootstrap
from services.executor.app import create_app as executor_app
from services.executor.context import ExecutorContext
from shared import streams
from shared.bus import Bus
from shared.events import ArmLive, DisarmLive, LiveStatus, QueryLive
from shared.settings import ExecutorSettings

if TYPE_CHECKING:
    from services.gateway.context import GatewayContext


@asynccontextmanager
async def executor(redis_url: str, settings: ExecutorSettings | None = None,
                   instance_id: str = "executor-test") -> AsyncIterator[ExecutorContext]:
    ctx = executor_bootstrap(redis_url=redis_url, settings=settings or ExecutorSettings(),
                             instance_id=instance_id)
    app = executor_app(lambda: ctx)
    async with app.router.lifespan_context(app):
        yield ctx


@asynccontextmanager
async def gateway(redis_url: str, **overrides: Any) -> AsyncIterator[GatewayContext]:
    """The gateway's app (bus, subscribers, loops, pool) without its HTTP server;
    ``overrides`` go to ``services.gateway.app.bootstrap`` (exchange, gateway, api, vault...)."""
    from services.gateway import app as gw_app  # only the callers that run a gateway need it

    ctx = gw_app.bootstrap(redis_url=redis_url, **overrides)
    app = gw_app.create_app(lambda: ctx)
    async with app.router.lifespan_context(app):
        yield ctx


@asynccontextmanager
async def client_bus(redis_url: str) -> AsyncIterator[Bus]:
    """A publishing-only bus, as the CLI or a strategy would hold."""
    bus = Bus(redis_url, "test-client")
    await bus.broker.connect()
    try:
        yield bus
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()


async def ask_executor(bus: Bus, command: ArmLive | DisarmLive | QueryLive) -> LiveStatus:
    """A live command over the bus, answered by a running executor (as the gateway asks)."""
    reply = await bus.broker.request(command.model_dump(mode="json"), stream=streams.COMMANDS,
                                     timeout=5)
    return LiveStatus.model_validate(await reply.decode())
