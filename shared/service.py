"""Process plumbing every service shares: logging, the /healthz route, running under uvicorn."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared import logs
from shared.bus import GRACEFUL_TIMEOUT_S, Bus
from shared.observe import add_metrics_route
from shared.settings import LogSettings, ServiceSettings

log = logging.getLogger("piggy.service")


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
        broken = getattr(app.state, "broken", "")
        if broken:
            return JSONResponse(body | {"status": "unhealthy", "reason": broken}, status_code=503)
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


STOP_WITHIN_S = 4.5  # SIGTERM → process gone, whatever the load (supervisors allow 5 s)
HTTP_DRAIN_S = 1  # open HTTP connections get this long to finish on shutdown


class _BoundedServer(uvicorn.Server):
    """uvicorn with a hard stop deadline: the first SIGTERM/SIGINT arms a timer that ends the
    process after ``stop_within_s`` even if a library swallowed a cancellation or a machine
    under load makes the graceful path (HTTP drain, broker drain, lifespan) slow."""

    def __init__(self, config: uvicorn.Config, stop_within_s: float) -> None:
        super().__init__(config)
        self.stop_within_s = stop_within_s
        self._deadline: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self._deadline is None:
            self._deadline = threading.Timer(self.stop_within_s, _exit_now, args=(self.stop_within_s,))
            self._deadline.daemon = True
            self._deadline.start()
        super().handle_exit(sig, frame)


def _exit_now(after_s: float) -> None:
    log.error("still stopping %.1fs after the signal; exiting now", after_s)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(1)


SUBSCRIBER_CHECK_S = 1.0
EXIT_SUBSCRIBER_STOPPED = 4  # a consumer group vanished: restart to recreate it


def serve(app: FastAPI, host: str, port: int, log_level: str = "info",
          stop_within_s: float = STOP_WITHIN_S, loop: str = "auto") -> None:
    """Run ``app`` under uvicorn. ``loop`` (``PIGGY_EVENT_LOOP``): ``uvloop``, ``asyncio``, or
    ``auto`` (uvloop when it imports, else asyncio)."""
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), access_log=False,
                            lifespan="on", timeout_graceful_shutdown=HTTP_DRAIN_S,
                            loop=loop,
                            log_config=None)  # our handler and format (setup_logging)
    server = _BoundedServer(config, stop_within_s)
    app.state.exit_on_broken = lambda: server.handle_exit(signal.SIGTERM, None)
    server.run()
    if getattr(app.state, "broken", ""):
        sys.exit(EXIT_SUBSCRIBER_STOPPED)


async def _watch_subscribers(app: FastAPI, bus: Bus) -> None:
    """A subscriber faststream stopped for good (its consumer group vanished: Redis was
    flushed or lost its data) makes this process unhealthy and, run by ``serve``, exit, so the
    supervisor restarts it and the start recreates every group. Without this the process
    would look healthy and read nothing."""
    while True:
        await asyncio.sleep(SUBSCRIBER_CHECK_S)
        stopped = [s for s in list(bus.broker.subscribers) if not s.running]
        if stopped:
            app.state.broken = (f"{len(stopped)} subscriber(s) stopped: a consumer group is gone "
                                "(Redis flushed or its data lost)")
            log.error("%s; exiting to be restarted, which recreates the groups", app.state.broken)
            exit_now = getattr(app.state, "exit_on_broken", None)
            if exit_now is not None:
                exit_now()
            return


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
                lifecycle: Lifecycle, *, docs: bool = False) -> FastAPI:
    """A FastAPI app whose lifespan builds the context once, runs the bus, serves /healthz
    (open) and /metrics (a bearer token when ``PIGGY_METRICS_TOKEN`` is set). ``docs``: serve
    /docs, /redoc and /openapi.json (the gateway's API; the other services have no API to
    describe, so they serve none).

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
        watcher = asyncio.create_task(_watch_subscribers(app, ctx.bus), name="subscriber-watch")
        try:
            yield
        finally:
            watcher.cancel()
            log.info("stopping: background loops")
            await lifecycle.stop(ctx)
            log.info("stopping: the bus (in-flight handlers get %.0fs)", GRACEFUL_TIMEOUT_S)
            await ctx.bus.stop()
            log.info("stopped")

    hidden: dict[str, Any] = {} if docs else {"docs_url": None, "redoc_url": None,
                                              "openapi_url": None}
    app = FastAPI(title=title, version="1", lifespan=lifespan, **hidden)
    add_healthz(app, service)
    add_metrics_route(app, ServiceSettings().metrics_token)
    return app
