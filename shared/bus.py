"""Broker wiring: consumer groups, capped publishing, claiming and dead-lettering.

Every consumer joins a group under a name unique to its process, so replicas share a
stream. A second subscriber in the same group claims entries left pending by a dead
consumer (XAUTOCLAIM after ``claim_idle_ms``). An entry that is not valid JSON or does not
match its schema (the consumer's, or one its handler checks and raises ``ValidationError``
for: first sight), or that failed ``max_deliveries`` times, goes to the dead-letter stream
with its reason and is acked, so a bad entry never becomes a crash loop. A handler that
raises ``RetryLater`` (not yet: another replica is on it) leaves its entry pending without that
counting as a failure: it is claimed again past ``max_deliveries``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aredis
from faststream import AckPolicy
from faststream.exceptions import AckMessage
from faststream.redis import StreamSub
from faststream.redis.annotations import RedisStreamMessage
from faststream.redis.parser import BinaryMessageFormatV1
from pydantic import BaseModel, TypeAdapter, ValidationError
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from shared import redis_conn, streams
from shared.events import DeadLetter, adapter
from shared.observe import BusObserver
from shared.redis_text import as_opt_str

if TYPE_CHECKING:
    from shared.durable import Durability

log = logging.getLogger("piggy.bus")

Handler = Callable[[Any], Awaitable[Any]]

GRACEFUL_TIMEOUT_S = 2.0  # on stop, in-flight handlers get this long (unacked ones are re-claimed)
READ_COUNT = 16  # entries per XREADGROUP: a few ms of work, far below any claim idle time
RETRY_LATER = "retry later: "


class RetryLater(RuntimeError):
    """The entry can't be handled yet (another replica is working on it): left pending and
    claimed again, never dead-lettered for it. Whoever raises it bounds how long that lasts."""


def failure_reason(exc: BaseException) -> str:
    """What the failures hash keeps for a failed entry (its dead-letter reason)."""
    text = f"{type(exc).__name__}: {exc}"
    return (RETRY_LATER + text if isinstance(exc, RetryLater) else text)[:500]


# How long one XREADGROUP waits for new entries (BLOCK). An entry that arrives wakes it at
# once, so this adds no latency; it only sets how often an idle subscriber asks (faststream's
# default, 100 ms, is 10 round trips a second per subscriber for nothing).
READ_BLOCK_MS = 1000

_delivery: ContextVar[int] = ContextVar("piggy_delivery", default=1)
# The entry (or batch) being handled, set by the decoders right before the handler runs.
_message: ContextVar[Any] = ContextVar("piggy_message")
_batch: ContextVar[Batch] = ContextVar("piggy_batch")


@dataclass
class Batch:
    """Entries read together: the valid ones as (entry id, event), the rest as (entry id,
    raw body, reason) to be dead-lettered. ``deliveries`` > 1 means a claimed redelivery."""

    stream: str
    group: str
    events: list[tuple[str, Any]]
    bad: list[tuple[str, bytes | str, str]] = field(default_factory=list)
    deliveries: int = 1

    @property
    def ack_ids(self) -> list[str]:
        return [i for i, _ in self.events] + [i for i, _, _ in self.bad]


BatchHandler = Callable[[Batch], Awaitable[None]]


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
                 claim_idle_ms: int = 10_000, durability: Durability | None = None) -> None:
        from shared.durable import Durability

        self.service = service
        # How many replicas the durable writes wait for: 1 behind Sentinel, none on one Redis
        # (``shared/durable.py``); ``RedisSettings.durability`` applies the settings.
        self.durability = durability or Durability(1 if redis_conn.is_sentinel(redis_url) else 0)
        self.claim_idle_ms = claim_idle_ms
        self.consumer = consumer_name(service, instance_id)
        self.observer = BusObserver(service, self.consumer)  # metrics + log context per event
        # A Redis restart leaves every pooled connection dead; without retry_on_error the
        # first command on each fails ("Connection closed by server") before it reconnects.
        # Retrying is safe here: every write the services make is idempotent (SET NX, HSETNX,
        # guarded Lua) or re-delivered to idempotent consumers (XADD). Both clients: the
        # broker's (publish, requests, reads) and the one the handlers use.
        # Behind Sentinel both follow the current primary (``shared/redis_conn.py``): a
        # connection to a dead or demoted primary fails, and the retry reconnects to the one
        # the sentinels name.
        self.broker = redis_conn.broker(redis_url, log_level=logging.DEBUG,
                                        graceful_timeout=GRACEFUL_TIMEOUT_S,
                                        retry_on_error=[aredis.ConnectionError], retry=_retry(),
                                        middlewares=self.observer.middlewares,
                                        logger=logging.getLogger("piggy.faststream"))
        self.redis: aredis.Redis = redis_conn.async_client(
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

    async def publish_durable(self, event: BaseModel, stream: str, attempts: int = 3) -> None:
        """``publish`` for an entry a caller is told was accepted (an intent): XADD and, behind
        Sentinel, WAIT for a replica in the same round trip (``shared/durable.py``). Not
        acknowledged by a replica (a failover under way, a stale primary): the same entry is
        added again (consumers dedupe by the event's id), then ``NotReplicated`` is raised —
        the entry may still survive, so the caller looks it up before making a new one."""
        if not self.durability.on:
            await self.publish(event, stream)
            return
        from shared.durable import NotReplicated

        for attempt in range(attempts):
            try:
                await self.durability.multi(
                    self.redis, lambda pipe: pipe.xadd(stream, {"__data__": frame(event)},
                                                       maxlen=streams.maxlen(stream)),
                    write=f"{stream} entry", required=True)
                return
            except (NotReplicated, aredis.ConnectionError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))

    def consume(
        self,
        stream: str,
        group: str,
        schema: Any,
        *,
        max_deliveries: int = 5,
        claim_idle_ms: int | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``handler(event)`` for ``stream`` in ``group``, with claiming and DLQ.

        The subscriber's function takes the event typed as ``schema`` (so the AsyncAPI
        document shows its payload); ``_guarded_decoder`` decodes and validates each entry
        and dead-letters what it can't handle before the handler sees it."""

        def register(handler: Handler) -> Handler:
            self._groups.add((stream, group))
            failures = failures_key(stream, group)

            async def call(event: Any) -> Any:
                try:
                    result = await handler(event)
                except ValidationError as exc:  # a schema the handler checks itself: retrying
                    msg = _message.get()
                    await self.dead_letter(stream, group, _entry_id(msg), msg.body, _describe(exc))
                    return None  # can never succeed, so dead-lettered on first sight
                except Exception as exc:
                    await self.redis.hset(failures, _entry_id(_message.get()),
                                          failure_reason(exc))
                    raise
                if delivery_count() > 1:
                    await self.redis.hdel(failures, _entry_id(_message.get()))
                return result

            idle_ms = claim_idle_ms or self.claim_idle_ms
            # COUNT bounds what one read moves into this consumer's pending list: without it
            # a backlog lands there at once, sits idle and is claimed by the claimer (here or
            # in another replica) while this consumer still works through it.
            # The claimer looks a few times per idle period, not every 100 ms: an idle service
            # then makes a few Redis calls a second instead of dozens.
            sub = StreamSub(stream, group=group, consumer=self.consumer, max_records=READ_COUNT,
                            polling_interval=READ_BLOCK_MS)
            claimer = StreamSub(stream, group=group, consumer=self.consumer, min_idle_time=idle_ms,
                                polling_interval=max(100, idle_ms // 5))
            for stream_sub, claimed, suffix in ((sub, False, ""), (claimer, True, ":claim")):
                entry = _typed(call, schema, f"{handler.__name__}{'_claimed' if claimed else ''}",
                               handler.__doc__)
                self.broker.subscriber(
                    stream=stream_sub, title=f"{stream}:{group}{suffix}", parser=tolerant_parse,
                    decoder=self._guarded_decoder(stream, group, adapter(schema), claimed,
                                                  max_deliveries),
                )(entry)
            return handler

        return register

    def _guarded_decoder(self, stream: str, group: str, validator: TypeAdapter[Any],
                         claimed: bool, max_deliveries: int) -> Callable[..., Awaitable[Any]]:
        """faststream's decoder plus the checks every entry passes before its handler: too
        many deliveries, a body that is not JSON (or not UTF-8), a schema mismatch or an
        unknown major version → dead-lettered with the reason and acked (``AckMessage``),
        on the first delivery. Returns the validated event."""

        async def decode(msg: RedisStreamMessage, original: Callable[[Any], Awaitable[Any]]) -> Any:
            if getattr(msg, "_piggy_dead", False):  # decoded twice (a middleware looked first)
                raise AckMessage
            entry_id = _entry_id(msg)
            # XREADGROUP ">" only hands out entries never delivered before: count 1. Only a
            # claimed entry needs its count from the pending list (one XPENDING round trip).
            deliveries = await msg.get_delivery_count() if claimed else 1
            reason = (as_opt_str(await self.redis.hget(failures_key(stream, group), entry_id))
                      if deliveries > max_deliveries else None)
            if deliveries > max_deliveries and not (reason or "").startswith(RETRY_LATER):
                await self.dead_letter(stream, group, entry_id, msg.body,
                                       f"failed {deliveries - 1} times: {reason or 'unknown'}")
                msg._piggy_dead = True  # type: ignore[attr-defined]
                raise AckMessage
            try:
                event = (validate_body(validator, msg.body) if _is_json(msg.content_type)
                         else validator.validate_python(await original(msg)))
            except Exception as exc:  # noqa: BLE001 - whatever decoding raises, dead-letter it
                await self.dead_letter(stream, group, entry_id, msg.body, _describe(exc))
                msg._piggy_dead = True  # type: ignore[attr-defined]
                raise AckMessage from None
            _delivery.set(max(deliveries, 1))
            _message.set(msg)
            return event

        return decode

    def consume_batch(
        self,
        stream: str,
        group: str,
        schema: Any,
        *,
        max_records: int = 64,
        max_deliveries: int = 5,
        claim_idle_ms: int | None = None,
    ) -> Callable[[BatchHandler], BatchHandler]:
        """Register ``handler(batch)`` for ``stream`` in ``group``: up to ``max_records``
        entries per read, decoded and validated one by one (``Batch.bad`` holds those that
        failed, with the reason). Nothing is acked for the handler: it acks the batch itself,
        in the same Redis call as its effects (``Batch.ack_ids``). An entry left pending (its
        consumer died, or the handler raised) is claimed after ``claim_idle_ms`` and handled
        alone, as a batch of one; past ``max_deliveries`` it is dead-lettered alone."""

        def register(handler: BatchHandler) -> BatchHandler:
            self._groups.add((stream, group))
            validator = adapter(schema)
            idle_ms = claim_idle_ms or self.claim_idle_ms
            sub = StreamSub(stream, group=group, consumer=self.consumer, batch=True,
                            max_records=max_records, polling_interval=READ_BLOCK_MS)

            async def on_batch(_events: list[Any]) -> None:
                await handler(_batch.get())

            async def on_claimed(event: Any) -> None:
                await handler(Batch(stream, group, [(_entry_id(_message.get()), event)], [],
                                    delivery_count()))

            self.broker.subscriber(
                stream=sub, title=f"{stream}:{group}", parser=_batch_parse,
                decoder=_batch_decoder(stream, group, validator), ack_policy=AckPolicy.MANUAL,
            )(_typed(on_batch, list[schema], handler.__name__, handler.__doc__))
            claimer = StreamSub(stream, group=group, consumer=self.consumer, min_idle_time=idle_ms,
                                polling_interval=max(100, idle_ms // 5))
            self.broker.subscriber(
                stream=claimer, title=f"{stream}:{group}:claim", parser=tolerant_parse,
                decoder=self._guarded_decoder(stream, group, validator, True, max_deliveries),
            )(_typed(on_claimed, schema, f"{handler.__name__}_claimed", handler.__doc__))
            return handler

        return register

    async def settle(self, batch: Batch) -> None:
        """Dead-letter a batch's bad entries and ack the whole batch, in one round trip (for
        handlers whose effects are not Redis writes of their own)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id, body, reason in batch.bad:
                log.warning("dead-lettered %s entry %s (%s): %s", batch.stream, entry_id,
                            batch.group, reason)
                text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
                pipe.xadd(streams.DEAD_LETTER, {"__data__": frame(DeadLetter(
                    stream=batch.stream, group=batch.group, entry_id=entry_id, reason=reason,
                    body=text[:2000]))}, maxlen=streams.maxlen(streams.DEAD_LETTER))
            if batch.ack_ids and batch.group:
                pipe.xack(batch.stream, batch.group, *batch.ack_ids)
            await pipe.execute()

    async def note_failure(self, batch: Batch, entry_id: str, exc: BaseException) -> None:
        """Why an entry of a batch failed (its reason when it is dead-lettered later)."""
        await self.redis.hset(failures_key(batch.stream, batch.group), entry_id,
                              failure_reason(exc))

    def follow(self, stream: str, schema: Any) -> Callable[[Handler], Handler]:
        """Register ``handler(event)`` for every new entry of ``stream`` in this process (XREAD
        from ``$``, no group: each replica sees every entry; nothing to ack or claim). For
        per-process caches: what was published while the process was down does not matter.
        An entry that does not match ``schema`` is logged and skipped. It reads from an id
        (now, then the last entry read), not from ``$`` on every read: an entry added between
        two blocking reads is not missed."""
        validator = adapter(schema)
        since = f"{int(time.time() * 1000)}-0"

        async def decode(msg: RedisStreamMessage, original: Callable[[Any], Awaitable[Any]]) -> Any:
            try:
                return validator.validate_python(await original(msg))
            except Exception as exc:  # noqa: BLE001 - a follower skips what it can't read
                log.warning("skipped a %s entry: %s", stream, _describe(exc))
                return None

        def register(handler: Handler) -> Handler:
            async def call(event: Any) -> Any:
                return None if event is None else await handler(event)

            self.broker.subscriber(
                stream=StreamSub(stream, last_id=since, polling_interval=READ_BLOCK_MS),
                title=f"{stream}:{self.service}:follow", parser=tolerant_parse, decoder=decode,
            )(_typed(call, schema, handler.__name__, handler.__doc__))
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


_FRAME_HEAD = BinaryMessageFormatV1.IDENTITY_HEADER + struct.pack(">H", 1)  # format version 1


def frame(event: BaseModel, body: str | None = None) -> bytes:
    """An event encoded as faststream's binary message format (the ``__data__`` field of an
    entry, what ``Bus.publish`` writes), for writes that go out inside a Lua script: the
    JSON body (``body`` when already dumped), its correlation id and content type."""
    cid = str(getattr(event, "correlation_id", "") or "").encode()
    headers = b"".join(struct.pack(">H", len(v)) + v for v in (
        b"correlation_id", cid, b"content-type", b"application/json"))
    headers_start = len(_FRAME_HEAD) + 8
    return (_FRAME_HEAD + struct.pack(">IIH", headers_start, headers_start + 2 + len(headers), 2)
            + headers + (body if body is not None else event.model_dump_json()).encode())


def _typed(fn: Callable[[Any], Awaitable[Any]], annotation: Any, name: str,
           doc: str | None) -> Callable[[Any], Awaitable[Any]]:
    """``fn`` as a subscriber function whose one parameter is typed ``annotation``: that is
    what faststream's AsyncAPI document shows as the payload. The decoders hand it events
    that are already validated, so the type check costs an isinstance."""

    async def entry(event: Any) -> Any:
        return await fn(event)

    entry.__annotations__ = {"event": annotation}
    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = doc
    return entry


async def _batch_parse(msg: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """faststream's batch message without faststream parsing the entries (one bad entry
    would fail the whole batch there); ``_batch_decoder`` reads them one by one."""
    parsed = await original({**msg, "data": []})
    parsed.raw_message = msg
    return parsed


def _batch_decoder(stream: str, group: str,
                   validator: TypeAdapter[Any]) -> Callable[..., Awaitable[Any]]:
    async def decode(msg: Any, _original: Callable[[Any], Awaitable[Any]]) -> list[Any]:
        raw = msg.raw_message
        batch = Batch(stream, group, [])
        for entry_id, fields in zip(raw.get("message_ids") or [], raw.get("data") or [],
                                    strict=False):
            eid = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            try:
                batch.events.append((eid, validate_body(validator, _body(fields))))
            except Exception as exc:  # noqa: BLE001 - whatever decoding raises, dead-letter it
                batch.bad.append((eid, _raw_body(fields), _describe(exc)))
        _batch.set(batch)
        return [event for _, event in batch.events]

    return decode


def _body(fields: dict[Any, Any]) -> bytes:
    """One entry's body (its JSON bytes, not parsed yet)."""
    data = fields.get(b"__data__")
    if data is None:
        raise ValueError(f"not a faststream entry (fields {sorted(_text(k) for k in fields)[:5]})")
    body, _headers = BinaryMessageFormatV1.parse(data)
    return body


def validate_body(validator: TypeAdapter[Any], body: bytes | str) -> Any:
    """An entry's JSON body validated straight from its bytes, in one pass (pydantic's own
    JSON parser: no dict is built and walked again). A body that is not JSON (or not UTF-8)
    raises ``ValueError`` (an "undecodable" dead letter); one that does not fit the schema
    raises ``ValidationError`` (a "schema" one)."""
    try:
        return validator.validate_json(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[:1]
        if first and first[0]["type"] == "json_invalid":
            raise ValueError(first[0]["msg"]) from None
        raise


def _is_json(content_type: str | None) -> bool:
    return bool(content_type) and str(content_type).startswith("application/json")


def _raw_body(fields: dict[Any, Any]) -> bytes | str:
    data = fields.get(b"__data__")
    if isinstance(data, bytes):
        return BinaryMessageFormatV1.parse(data)[0]
    return repr({_text(k): _text(v)[:200] for k, v in fields.items()})


def _entry_id(msg: RedisStreamMessage) -> str:
    ids = msg.raw_message.get("message_ids") or [b"?"]
    first = ids[0]
    return first.decode() if isinstance(first, bytes) else str(first)


def failures_key(stream: str, group: str) -> str:
    """Why each pending entry failed (also cleared by handlers that ack in their own MULTI)."""
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
