"""The aiohttp application: Binance routes, admin routes, error and fault middlewares."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from sandbox import admin_routes, api
from sandbox.errors import BinanceError
from sandbox.faults import FaultRule
from sandbox.state import SandboxState

log = logging.getLogger("sandbox")
wire = logging.getLogger("sandbox.wire")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STOPPING: web.AppKey[asyncio.Event] = web.AppKey("sandbox_stopping", asyncio.Event)
UNKNOWN = {"code": -1000, "msg": "An unknown error occured while processing the request."}


@web.middleware
async def admin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/admin") and not admin_routes.is_loopback(request.remote):
        raise web.HTTPForbidden(text="admin API is loopback-only")
    return await handler(request)


@web.middleware
async def binance_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``BinanceError`` -> its status and JSON body; a bug -> 500 -1000 (and a traceback)."""
    try:
        return await handler(request)
    except BinanceError as exc:
        return web.Response(status=exc.status, text=json.dumps(exc.body()),
                            content_type="application/json")
    except (web.HTTPException, ConnectionResetError):
        raise
    except Exception:
        log.exception("sandbox bug while serving %s %s", request.method, request.path)
        return web.json_response(UNKNOWN, status=500)


async def _hold(request: web.Request, ms: int) -> None:
    """Sleep ``ms``, cut short when the server stops (so shutdown never waits on a fault)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(request.app[STOPPING].wait(), ms / 1000)


def _cut(request: web.Request) -> web.StreamResponse:
    """Close the TCP connection without an HTTP response."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # aiohttp treats it as a client gone; nothing is written


def _failure(rule: FaultRule) -> web.Response:
    status = rule.status or 503
    if rule.kind == "rate_limit":
        return web.json_response({"code": -1003, "msg": (
            "Too many requests; current limit of IP(127.0.0.1) is 1200 requests per minute. "
            "Please use the websocket for live updates to avoid polling the API.")},
            status=status)
    if rule.json:
        return web.json_response({"code": -1001, "msg": "Internal error; unable to process "
                                  "your request. Please try again."}, status=status)
    reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
               504: "Gateway Timeout"}
    return web.Response(status=status, text=reasons.get(status, "Server Error"))


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/admin"):
        return await handler(request)
    latency, rule = request.app[api.STATE].faults.pick(request.method, request.path)
    if latency:
        # The request has fully arrived and will run after the delay even if the client has
        # given up by then, as on a slow real exchange: a timed-out order may still exist.
        if request.body_exists:
            await request.read()
        await _hold(request, latency)
    if rule is None:
        return await handler(request)
    if rule.kind == "drop":
        return _cut(request)
    if rule.kind == "lost_response":
        await handler(request)  # the request takes effect; its answer is lost
        if rule.latency_ms:
            await _hold(request, rule.latency_ms)
        return _cut(request)
    return _failure(rule)


@web.middleware
async def log_wire(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log each request as it arrived (raw query and body) and the answer's status."""
    body = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
    response = await handler(request)
    wire.info("%s %s?%s body=%r apikey=%s -> %s", request.method, request.path,
              request.rel_url.raw_query_string, body,
              "yes" if "X-MBX-APIKEY" in request.headers else "no", response.status)
    return response


def build_app(state: SandboxState, *, log_requests: bool = False) -> web.Application:
    middlewares: list[Middleware] = [admin_guard, inject_faults, binance_errors]
    if log_requests:
        middlewares.insert(0, log_wire)
    app = web.Application(middlewares=middlewares)
    app[api.STATE] = state
    app[STOPPING] = asyncio.Event()
    app.add_routes(api.routes)
    app.add_routes(admin_routes.routes)

    async def on_shutdown(app: web.Application) -> None:
        app[STOPPING].set()
    app.on_shutdown.append(on_shutdown)
    return app
