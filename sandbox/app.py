"""The aiohttp application: every venue's dialect routes, admin routes, error and fault
middlewares.

One app serves all venues under ``/<venue>`` prefixes (``/binanceus``, ``/binance``,
``/kraken``, ``/coinbase``); the root paths serve binanceus as before venues existed.
``resolve_venue`` picks the venue's state from the path; faults and errors are answered in
that venue's wire format (``sandbox.dialects``).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import ModuleType

from aiohttp import web
from aiohttp.typedefs import Middleware

from sandbox import admin_routes
from sandbox.dialects import binance, coinbase, coinbase_history, kraken, kraken_history
from sandbox.errors import WireError
from sandbox.faults import FaultRule
from sandbox.routing import PATH_KEY, PREFIX_KEY, STATE_KEY, split_venue, venue_path
from sandbox.state import SandboxState
from sandbox.venues import DEFAULT

log = logging.getLogger("sandbox")
wire = logging.getLogger("sandbox.wire")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STOPPING: web.AppKey[asyncio.Event] = web.AppKey("sandbox_stopping", asyncio.Event)
STATES: web.AppKey[dict[str, SandboxState]] = web.AppKey("sandbox_states", dict)
DIALECTS: dict[str, ModuleType] = {"binanceus": binance, "binance": binance, "kraken": kraken,
                                   "coinbase": coinbase}
# routes a dialect serves from a module of their own
MORE_ROUTES: dict[str, tuple[web.RouteTableDef, ...]] = {
    "kraken": (kraken_history.routes,), "coinbase": (coinbase_history.routes,)}
KEY_HEADERS = ("X-MBX-APIKEY", "API-Key", "CB-ACCESS-KEY", "Authorization")


def _is_admin(request: web.Request) -> bool:
    return venue_path(request).startswith("/admin")


@web.middleware
async def resolve_venue(request: web.Request, handler: Handler) -> web.StreamResponse:
    states = request.app[STATES]
    name, prefix, path = split_venue(request.path, frozenset(states))
    request[STATE_KEY] = states[name or DEFAULT]
    request[PREFIX_KEY], request[PATH_KEY] = prefix, path
    return await handler(request)


def request_key(request: web.Request) -> str | None:
    """The API key a request names (not verified): the venue's key header, or a coinbase JWT's
    ``kid``. Fault rules scoped to a key match on it."""
    for header in KEY_HEADERS[:3]:
        if request.headers.get(header):
            return request.headers[header]
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    try:
        head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    except (ValueError, binascii.Error):
        return None
    kid = head.get("kid") if isinstance(head, dict) else None
    return str(kid) if kid else None


def _dialect(request: web.Request) -> ModuleType:
    return DIALECTS[request[STATE_KEY].name]


@web.middleware
async def admin_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _is_admin(request) and not admin_routes.is_loopback(request.remote):
        raise web.HTTPForbidden(text="admin API is loopback-only")
    return await handler(request)


@web.middleware
async def wire_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A ``WireError`` -> its status and JSON body; a bug -> the venue's 500 (and a traceback)."""
    try:
        return await handler(request)
    except WireError as exc:
        return web.Response(status=exc.status, text=json.dumps(exc.body()),
                            content_type="application/json")
    except (web.HTTPException, ConnectionResetError):
        raise
    except Exception:
        log.exception("sandbox bug while serving %s %s", request.method, request.path)
        return _dialect(request).bug_response()


async def _hold(request: web.Request, ms: int) -> None:
    """Sleep ``ms``, cut short when the server stops (so shutdown never waits on a fault)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(request.app[STOPPING].wait(), ms / 1000)


def _cut(request: web.Request) -> web.StreamResponse:
    """Close the TCP connection without an HTTP response."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError  # aiohttp treats it as a client gone; nothing is written


def _failure(dialect: ModuleType, rule: FaultRule) -> web.Response:
    status = rule.status or 503
    if rule.kind == "rate_limit":
        return dialect.rate_limited(status)
    if rule.json:
        return dialect.server_error(status)
    reasons = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
               504: "Gateway Timeout"}
    return web.Response(status=status, text=reasons.get(status, "Server Error"))


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The venue's fault rules, matched against the path without the venue prefix."""
    if _is_admin(request):
        return await handler(request)
    latency, rule = request[STATE_KEY].faults.pick(request.method, venue_path(request),
                                                   request_key(request))
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
    return _failure(_dialect(request), rule)


@web.middleware
async def enforce_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The venue's real rate limits per key and per IP, when switched on (``ratelimits``)."""
    st = request[STATE_KEY]
    if _is_admin(request) or not st.limits.enabled:
        return await handler(request)
    refusal = st.limits.check(request.method, venue_path(request), request.query,
                              request.headers, request.remote or "")
    if refusal is None:
        return await handler(request)
    status = refusal.status if st.limits.dialect == "binance" else st.venue.fault_status.get(
        "rate_limit", 429)
    return _dialect(request).too_many(status, refusal.code, refusal.message,
                                      refusal.retry_after_s)


@web.middleware
async def log_wire(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log each request as it arrived (raw query and body) and the answer's status."""
    body = (await request.read()).decode("utf-8", "replace") if request.body_exists else ""
    response = await handler(request)
    wire.info("%s %s?%s body=%r apikey=%s -> %s", request.method, request.path,
              request.rel_url.raw_query_string, body,
              "yes" if any(h in request.headers for h in KEY_HEADERS) else "no",
              response.status)
    return response


def _add(app: web.Application, prefix: str, routes: web.RouteTableDef) -> None:
    for route in routes:
        assert isinstance(route, web.RouteDef)
        app.router.add_route(route.method, prefix + route.path, route.handler)


def build_app(states: SandboxState | Mapping[str, SandboxState], *,
              log_requests: bool = False) -> web.Application:
    """The app for one ``SandboxState`` (binanceus, at the root) or one state per venue."""
    if isinstance(states, SandboxState):
        states = {states.name: states}
    middlewares: list[Middleware] = [resolve_venue, admin_guard, enforce_limits, inject_faults,
                                     wire_errors]
    if log_requests:
        middlewares.insert(1, log_wire)
    app = web.Application(middlewares=middlewares)
    app[STATES] = dict(states)
    app[STOPPING] = asyncio.Event()
    if DEFAULT in states:
        _add(app, "", binance.routes)
        _add(app, "", admin_routes.routes)
    for name in states:
        for more in MORE_ROUTES.get(name, ()):  # first: fixed paths before ``{order_id}``
            _add(app, f"/{name}", more)
        _add(app, f"/{name}", DIALECTS[name].routes)
        _add(app, f"/{name}", admin_routes.routes)

    async def on_shutdown(app: web.Application) -> None:
        app[STOPPING].set()
    app.on_shutdown.append(on_shutdown)
    return app
