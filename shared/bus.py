"""Broker wiring: consumer groups, capped publishing, claiming and dead-lettering.

Every consumer joins a group under a name unique to its process, so replicas share a
stream. A second subscriber in the same group claims entries left pending by a dead
consumer (XAUTOCLAIM after ``claim_idle_ms``). An entry that is not valid JSON or does not
match its schema, or that failed ``max_deliveries`` times, goes to the dead-letter stream
with its reason and is acked, so a bad entry never becomes a crash loop.
"""
from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import redis.asyncio as aredis
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage
from faststream.redis.parser import BinaryMessageFormatV1
from pydantic import BaseModel, ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from shared import streams
from shared.events import DeadLetter, adapter
from shared.observe import BusObserver

log = logging.getLogger("piggy.bus")

Handler = Callable[[Any], Awaitable[Any]]

READ_COUNT = 16  # entries per XREADGROUP: a few ms of work, far below any claim idle time

_delivery: ContextVar[int] = ContextVar("piggy_delivery", default=1)


def delivery_count() -> int:
    """How many times the entry being handled has been delivered (1 = first time)."""
    return _delivery.get()


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), 3)


def consumer_name(service: str, instance_id: str = "") -> str:
    return instance_id or f"{service}-{socket.gethostname()}-{os.getpid()}"


class Bus:
    """One broker and one Redis client per process, built at start-up and passed in."""

    def __init__(self, redis_url: str, service: str, instance_id: str = "",
                 claim_idle_ms: int = 10_000) -> None:
        self.service = service
        self.claim_idle_ms = claim_idle_ms
        self.consumer = consumer_name(service, instance_id)
        self.observer = BusObserver(service, self.consumer)  # metrics + log context per event
        # A Redis restart leaves every pooled connection dead; without retry_on_error the
        # first command on each fails ("Connection closed by server") before it reconnects.
        # Retrying is safe here: every write the services make is idempotent (SET NX, HSETNX,
        # guarded Lua) or re-delivered to idempotent consumers (XADD). Both clients: the
        # broker's (publish, requests, reads) and the one the handlers use.
        self.broker = RedisBroker(redis_url, log_level=logging.DEBUG, graceful_timeout=10,
                                  retry_on_error=[aredis.ConnectionError], retry=_retry(),
                                  middlewares=self.observer.middlewares,
                                  logger=logging.getLogger("piggy.faststream"))  # our format
        self.redis: aredis.Redis = aredis.from_url(
            redis_url, decode_responses=True, retry_on_error=[aredis.ConnectionError],
            retry=_retry())
        self._groups: set[tuple[str, str]] = set()

    async def publish(self, event: BaseModel, stream: str) -> None:
        await self.broker.publish(
            event.model_dump(mode="json"),
            stream=stream,
            maxlen=streams.maxlen(stream),
            correlation_id=getattr(event, "correlation_id", None),
        )

    def consume(
        self,
        stream: str,
        group: str,
        schema: Any,
        *,
        max_deliveries: int = 5,
        claim_idle_ms: int | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(event)`` for ``stream`` in ``group``, with claiming and DLQ."""

        def register(handler: Handler) -> Handler:
            self._groups.add((stream, group))
            validator = adapter(schema)

            async def run(msg: RedisStreamMessage, claimed: bool) -> Any:
                entry_id = _entry_id(msg)
                # XREADGROUP ">" only hands out entries never delivered before: count 1. Only a
                # claimed entry needs its count from the pending list (one XPENDING round trip).
                deliveries = await msg.get_delivery_count() if claimed else 1
                if deliveries > max_deliveries:
                    reason = await self.redis.hget(_failures_key(stream, group), entry_id)
                    await self.dead_letter(stream, group, entry_id, msg.body,
                                           f"failed {deliveries - 1} times: {reason or 'unknown'}")
                    return None
                try:
                    body = await msg.decode()
                    event = validator.validate_python(body)
                except (ValidationError, ValueError, TypeError) as exc:
                    await self.dead_letter(stream, group, entry_id, msg.body, _describe(exc))
                    return None
                _delivery.set(max(deliveries, 1))
                try:
                    result = await handler(event)
                except Exception as exc:
                    await self.redis.hset(_failures_key(stream, group), entry_id,
                                          f"{type(exc).__name__}: {exc}"[:500])
                    raise
                if deliveries > 1:
                    await self.redis.hdel(_failures_key(stream, group), entry_id)
                return result

            idle_ms = claim_idle_ms or self.claim_idle_ms
            # COUNT bounds what one read moves into this consumer's pending list: without it
            # a backlog lands there at once, sits idle and is claimed by the claimer (here or
            # in another replica) while this consumer still works through it.
            # The claimer looks a few times per idle period, not every 100 ms: an idle service
            # then makes a few Redis calls a second instead of dozens.
            sub = StreamSub(stream, group=group, consumer=self.consumer, max_records=READ_COUNT)
            claimer = StreamSub(stream, group=group, consumer=self.consumer, min_idle_time=idle_ms,
                                polling_interval=max(100, idle_ms // 5))

            async def entry(msg: RedisStreamMessage) -> Any:
                return await run(msg, claimed=False)

            async def claimed_entry(msg: RedisStreamMessage) -> Any:
                return await run(msg, claimed=True)

            entry.__name__ = f"{handler.__name__}"
            claimed_entry.__name__ = f"{handler.__name__}_claimed"
            self.broker.subscriber(stream=sub, title=f"{stream}:{group}",
                                   parser=tolerant_parse)(entry)
            self.broker.subscriber(stream=claimer, title=f"{stream}:{group}:claim",
                                   parser=tolerant_parse)(claimed_entry)
            return handler

        return register

    async def dead_letter(self, stream: str, group: str, entry_id: str, body: bytes | str,
                          reason: str) -> None:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        log.warning("dead-lettered %s entry %s (%s): %s", stream, entry_id, group, reason)
        await self.publish(
            DeadLetter(stream=stream, group=group, entry_id=entry_id, reason=reason, body=text[:2000]),
            streams.DEAD_LETTER,
        )

    async def ensure_groups(self) -> None:
        """Create every registered group from id 0, so nothing published earlier is missed."""
        for stream, group in self._groups:
            await ensure_group(self.redis, stream, group)

    async def start(self) -> None:
        await self.ensure_groups()
        await self.broker.start()

    async def stop(self) -> None:
        await self.broker.stop()
        await self.redis.aclose()


async def ensure_group(redis: aredis.Redis, stream: str, group: str) -> None:
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except aredis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def tolerant_parse(msg: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """faststream's parser; an entry it can't parse (e.g. fields that are not UTF-8 and no
    body field) becomes a text body that ``consume`` dead-letters. Without this the parse
    error happens before the handler, the entry stays pending and is re-claimed forever."""
    try:
        return await original(msg)
    except Exception as exc:  # noqa: BLE001 - whatever the parser raises, dead-letter it
        fields = msg.get("data") if isinstance(msg, dict) else None
        shown = ({_text(k): _text(v)[:200] for k, v in fields.items()}
                 if isinstance(fields, dict) else repr(fields)[:500])
        text = f"unparseable entry ({type(exc).__name__}): {shown!r}"[:2000]
        return await original({**msg, "data": {b"__data__": text.encode("utf-8", "replace")}})


def _entry_id(msg: RedisStreamMessage) -> str:
    ids = msg.raw_message.get("message_ids") or [b"?"]
    first = ids[0]
    return first.decode() if isinstance(first, bytes) else str(first)


def _failures_key(stream: str, group: str) -> str:
    return f"piggy:failures:{stream}:{group}"


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_input=False)
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in errors[:5]]
        return "schema: " + "; ".join(parts)
    return f"undecodable: {type(exc).__name__}: {exc}"[:300]


def decode_entry(fields: dict[Any, Any]) -> Any:
    """The body of a stream entry read by hand (XRANGE), in faststream's format or plain."""
    data = fields.get(b"__data__", fields.get("__data__"))
    if data is None:
        return {_text(k): _text(v) for k, v in fields.items()}
    body, _headers = BinaryMessageFormatV1.parse(data if isinstance(data, bytes) else data.encode())
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
