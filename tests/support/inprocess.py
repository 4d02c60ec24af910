"""Running a service's real app inside the test's event loop (real Redis, real broker)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.executor.app import bootstrap as executor_bootstrap
from services.executor.app import create_app as executor_app
from services.executor.context import ExecutorContext
from shared.bus import Bus
from shared.settings import ExecutorSettings


@asynccontextmanager
async def executor(redis_url: str, settings: ExecutorSettings | None = None,
                   instance_id: str = "executor-test") -> AsyncIterator[ExecutorContext]:
    ctx = executor_bootstrap(redis_url=redis_url, settings=settings or ExecutorSettings(),
                             instance_id=instance_id)
    app = executor_app(lambda: ctx)
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
