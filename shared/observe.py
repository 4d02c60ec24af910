"""The bus middleware that makes a service observable without touching its handlers.

For every event consumed it binds the event's ids to the log context (``shared.logs``),
counts it (``shared.metrics``) and logs one line when handled; for every event published it
counts it and logs one line. ``add_metrics_route`` serves the process's registry at
``/metrics``. faststream's own Prometheus middleware (``faststream_*`` metrics: messages,
durations, exceptions per handler) runs next to it in the same registry.
"""
from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from faststream import BaseMiddleware
from faststream.redis.prometheus import RedisPrometheusMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, SecretStr

from shared import logs
from shared.metrics import Metrics

log = logging.getLogger("piggy.events")

QUIET_TYPES = frozenset({"Heartbeat", "Ticker"})  # several a second: counted, never logged
_handling: ContextVar[tuple[Mapping[str, Any], float] | None] = ContextVar("piggy_handling",
                                                                        default=None)


class EventView(Mapping[str, Any]):
    """A validated event read as the plain body the metrics and the log context look at,
    without dumping it: a field is read when asked for (this runs for every event consumed
    and published, and most fields are never asked for). Values are the model's own
    (``datetime``, ``StrEnum``); a name the event does not have reads as missing."""

    __slots__ = ("_fields", "event")

    def __init__(self, event: BaseModel) -> None:
        self.event = event
        self._fields = type(event).model_fields  # getattr of a missing name is slow on a model

    def __getitem__(self, name: str) -> Any:
        if name in self._fields:
            return getattr(self.event, name)
        raise KeyError(name)

    def get(self, name: str, default: Any = None) -> Any:
        if name in self._fields:
            value = getattr(self.event, name)
            return default if value is None else value
        return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)


def _plain(body: Any) -> Any:
    """The bus's decoders hand over validated events (a batch: a list of them); the metrics
    and the log context read them as plain bodies (``EventView``)."""
    if isinstance(body, BaseModel):
        return EventView(body)
    if isinstance(body, list):
        return [_plain(b) for b in body]
    return body


def _kind(body: Any) -> str:
    if isinstance(body, list):
        return f"batch of {len(body)}"
    if isinstance(body, Mapping):
        return str(body.get("type") or ("DeadLetter" if "entry_id" in body else "message"))
    return "message"


class BusObserver:
    """A faststream middleware factory bound to one process's metrics."""

    def __init__(self, service: str, instance: str) -> None:
        self.metrics = Metrics(service)
        logs.set_identity(service, instance)

    @property
    def middlewares(self) -> tuple[Any, ...]:
        return (self, RedisPrometheusMiddleware(registry=self.metrics.registry,
                                                app_name=self.metrics.service))

    def __call__(self, msg: Any, /, *, context: Any) -> _Scope:
        return _Scope(msg, context=context, metrics=self.metrics)


class _Scope(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, metrics: Metrics) -> None:
        super().__init__(msg, context=context)
        self.metrics = metrics

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
        raw = msg.raw_message if isinstance(msg.raw_message, Mapping) else {}
        stream = str(raw.get("channel") or "?")
        try:
            body = _plain(await msg.decode())
        except Exception:  # noqa: BLE001 - the bus dead-letters what can't be decoded
            body = None
        for item in body if isinstance(body, list) else [body]:  # a batch: each event
            self.metrics.on_consumed(stream, item)
        kind, started = _kind(body), time.monotonic()
        token = _handling.set((body if isinstance(body, Mapping) else {}, started))
        try:
            with logs.bind_event(body):
                try:
                    result = await call_next(msg)
                except Exception as exc:
                    log.warning("handling %s from %s failed after %.1f ms: %s: %s", kind, stream,
                                (time.monotonic() - started) * 1000, type(exc).__name__,
                                str(exc)[:200])
                    raise
                took_ms = (time.monotonic() - started) * 1000
                if isinstance(body, list):  # a batch: one line per event, with its ids
                    if log.isEnabledFor(logging.INFO):
                        for item in body:
                            with logs.bind_event(item):
                                log.info("handled %s from %s (batch of %d) in %.1f ms",
                                         _kind(item), stream, len(body), took_ms)
                elif kind not in QUIET_TYPES and log.isEnabledFor(logging.INFO):
                    log.info("handled %s from %s in %.1f ms", kind, stream, took_ms)
                return result
        finally:
            _handling.reset(token)

    async def publish_scope(self, call_next: Callable[[Any], Awaitable[Any]], cmd: Any) -> Any:
        result = await call_next(cmd)
        body, stream = cmd.body, str(getattr(cmd, "destination", "") or "?")
        handling = _handling.get()
        self.metrics.on_published(stream, body, handling[0] if handling else None,
                                  time.monotonic() - handling[1] if handling else None)
        kind = _kind(body)
        if kind not in QUIET_TYPES and stream and log.isEnabledFor(logging.INFO):
            log.info("published %s to %s", kind, stream, extra=logs.event_fields(body))
        return result


def observe_published(observer: BusObserver, stream: str, event: BaseModel, *,
                      handling: BaseModel | None = None, started: float | None = None) -> None:
    """Count and log an event a service wrote in its own MULTI (effects + ack in one round
    trip), as ``publish_scope`` does for faststream's publish. ``handling`` is the event being
    handled and ``started`` (``time.monotonic()``) when its handling began."""
    body = _plain(event)
    observer.metrics.on_published(stream, body, _plain(handling) if handling is not None else None,
                                  time.monotonic() - started if started is not None else None)
    kind = _kind(body)
    if kind not in QUIET_TYPES and log.isEnabledFor(logging.INFO):
        log.info("published %s to %s", kind, stream, extra=logs.event_fields(body))


def add_metrics_route(app: FastAPI, token: SecretStr | None = None) -> None:
    """``GET /metrics``: this process's metrics, state gauges read from Redis first. With
    ``token`` (``PIGGY_METRICS_TOKEN``) only for ``Authorization: Bearer <token>`` (401
    otherwise); without, open (meant for loopback)."""
    wanted = f"Bearer {token.get_secret_value()}".encode() if token is not None else None

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode()
        if wanted is not None and not hmac.compare_digest(given, wanted):
            return Response("a bearer token is required (PIGGY_METRICS_TOKEN)\n", status_code=401,
                            media_type="text/plain", headers={"WWW-Authenticate": "Bearer"})
        bus = getattr(app.state, "bus", None)
        observer: BusObserver | None = getattr(bus, "observer", None)
        if bus is None or observer is None:
            return Response("not started\n", status_code=503, media_type="text/plain")
        try:
            await observer.metrics.refresh(bus.redis, getattr(bus, "_groups", ()))
        except Exception as exc:  # noqa: BLE001 - counters still answer when Redis does not
            log.warning("metrics: state gauges not refreshed: %s", type(exc).__name__)
        return Response(generate_latest(observer.metrics.registry), media_type=CONTENT_TYPE_LATEST)
