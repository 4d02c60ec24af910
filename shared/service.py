"""Process plumbing every service shares: logging, the /healthz route, running under uvicorn."""
from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared import logs
from shared.bus import Bus
from shared.observe import add_metrics_route
from shared.settings import LogSettings


def setup_logging(level: str = "INFO") -> None:
    """JSON lines or text (``PIGGY_LOG_FORMAT``; JSON unless stderr is a terminal)."""
    logs.configure(level, logs.choose_format(LogSettings().log_format, sys.stderr.isatty()))
    for noisy in ("faststream", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_healthz(app: FastAPI, service: str) -> None:
    """``GET /healthz``: 200 while this process and its Redis answer, else 503."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        bus: Bus | None = getattr(app.state, "bus", None)
        body: dict[str, Any] = {"service": service, "status": "ok"}
        try:
            if bus is None:
                raise RuntimeError("not started")
            await bus.redis.ping()
            body["instance"] = bus.consumer
            body["redis"] = "ok"
        except Exception as exc:  # any failure to reach Redis is an unhealthy answer
            body |= {"status": "unhealthy", "redis": f"{type(exc).__name__}"}
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)


def serve(app: FastAPI, host: str, port: int, log_level: str = "info") -> None:
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False,
                lifespan="on", log_config=None)  # our handler and format (setup_logging)


@dataclass(frozen=True)
class Lifecycle:
    """How a service wires itself: declare subscribers, start and stop its loops.

    ``start_before_consuming`` starts the loops (after connecting the broker for publishing)
    before any subscriber reads, for services that must catch up first."""

    register: Callable[[Any], None]
    start: Callable[[Any], Awaitable[None]]
    stop: Callable[[Any], Awaitable[None]]
    start_before_consuming: bool = False


def service_app(service: str, title: str, ctx_factory: Callable[[], Any],
                lifecycle: Lifecycle) -> FastAPI:
    """A FastAPI app whose lifespan builds the context once, runs the bus, serves /healthz.

    The context must have a ``bus`` (a :class:`Bus`); it is kept in ``app.state.ctx``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = ctx_factory()
        app.state.ctx, app.state.bus = ctx, ctx.bus
        lifecycle.register(ctx)
        if lifecycle.start_before_consuming:
            await ctx.bus.broker.connect()
            await lifecycle.start(ctx)
            await ctx.bus.start()
        else:
            await ctx.bus.start()
            await lifecycle.start(ctx)
        try:
            yield
        finally:
            await lifecycle.stop(ctx)
            await ctx.bus.stop()

    app = FastAPI(title=title, version="1", lifespan=lifespan)
    add_healthz(app, service)
    add_metrics_route(app)
    return app
