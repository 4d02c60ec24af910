"""Durable writes: a write that something outside Redis acts on waits until a replica has it.

Redis replicates asynchronously: a primary that dies can take acknowledged writes with it,
and Sentinel promotes a replica that never saw them. A write is made durable here by
``WAIT <replicas> <ms>`` on the same connection right after it (pipelined: one round
trip): when WAIT answers, that many replicas hold the write and everything written before
it (replication is one ordered stream per primary, so one WAIT covers every earlier write of
every client). Sentinel promotes the replica with the highest replication offset, so a write
a replica acknowledged survives the failover.

Which writes wait (``docs/sentinel.md`` has the table and the cost):

* the client-order-id marker claimed before an order is sent (``shared.cids``): if no
  replica has it, the order is NOT sent (``NotReplicated``, a ``RetryLater``: the request
  stays pending and is tried again) — an order at the exchange always has a marker that
  survives a failover, so a redelivery looks the order up instead of sending it twice;
* an accepted intent (``Bus.publish_durable``), the executor's commit (status steps, order
  requests, outcomes with their trade line, releases, acks) and the gateway's outcome MULTI:
  they wait too; when no replica answers in time the write stands on the primary alone, which
  is logged (and counted in ``UNREPLICATED``), and the caller goes on. For ``DEGRADED_S``
  after that, these writes do not wait (a primary whose replica is gone would otherwise add
  the whole timeout to every write); the marker always waits.

With ``replicas == 0`` (no Sentinel: one Redis) nothing waits and nothing changes.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aredis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from shared.bus import RetryLater

log = logging.getLogger("piggy.durable")

# Durable writes no replica acknowledged in time, by write (they stand on the primary alone).
UNREPLICATED: Counter[str] = Counter()


class NotReplicated(RetryLater):
    """No replica acknowledged a write that must survive a failover before anything acts on
    it (the marker before an order is sent); whoever raised it did not act."""


DEGRADED_S = 2.0


@dataclass
class Durability:
    """How many replicas a durable write waits for (0: none, nothing waits) and how long."""

    replicas: int = 0
    timeout_ms: int = 1000
    degraded_until: float = 0.0  # monotonic: until then only required writes wait

    def waits(self, required: bool) -> bool:
        return self.on and (required or time.monotonic() >= self.degraded_until)

    @property
    def on(self) -> bool:
        return self.replicas > 0

    def check(self, acked: int | None, write: str, *, required: bool = False) -> bool:
        """True when ``acked`` replicas are enough; else counted, logged, and raised as
        :class:`NotReplicated` when ``required``."""
        if not self.on or (acked is not None and acked >= self.replicas):
            return True
        UNREPLICATED[write.split(" ")[0]] += 1
        message = (f"{write}: {acked or 0} of {self.replicas} replica(s) acknowledged within "
                   f"{self.timeout_ms} ms")
        if required:
            raise NotReplicated(message)
        self.degraded_until = time.monotonic() + DEGRADED_S
        log.warning("%s; it stands on the primary alone (no waiting for %gs)", message,
                    DEGRADED_S)
        return False

    async def script(self, redis: aredis.Redis, script: AsyncScript | str,
                     keys: Sequence[Any] = (), args: Sequence[Any] = (), *, write: str,
                     required: bool = False) -> Any:
        """Run a Lua script (a registered ``AsyncScript`` or its source), then WAIT on the same
        connection in the same round trip; returns the script's reply."""
        if not self.waits(required):
            if isinstance(script, str):
                return await redis.eval(script, len(keys), *keys, *args)
            return await script(keys=list(keys), args=list(args))
        for attempt in (1, 2):
            try:
                async with redis.pipeline(transaction=False) as pipe, _fresh_on_error(redis):
                    # EVALSHA by hand: redis-py's own pipeline scripts ask SCRIPT EXISTS
                    # first, which the services' ACL users may not run
                    if isinstance(script, str):
                        pipe.eval(script, len(keys), *keys, *args)
                    else:
                        pipe.evalsha(script.sha, len(keys), *keys, *args)
                    pipe.execute_command("WAIT", self.replicas, self.timeout_ms)
                    reply, acked = await pipe.execute()
                break
            except NoScriptError:  # a promoted replica's script cache may be empty
                if attempt == 2 or isinstance(script, str):
                    raise
                await redis.script_load(script.script)
        await self._after_wait(redis, int(acked), write, required)
        return reply

    async def multi(self, redis: aredis.Redis, queue: Callable[[Pipeline], Any], *,
                    write: str, required: bool = False) -> list[Any]:
        """``queue``'s commands in one MULTI/EXEC (all or nothing), then WAIT on the same
        connection; returns EXEC's replies."""
        pipe = WaitingPipeline(redis.connection_pool, redis.response_callbacks, True, None)
        waits = self.waits(required)
        pipe.wait_for = (self.replicas, self.timeout_ms) if waits else None
        async with pipe, _fresh_on_error(redis):
            queue(pipe)
            replies: list[Any] = await pipe.execute()
            acked = pipe.acked
        if waits:
            await self._after_wait(redis, acked, write, required)
        return replies

    async def _after_wait(self, redis: aredis.Redis, acked: int | None, write: str,
                          required: bool) -> None:
        """Not enough replicas: the idle pooled connections are dropped first, so the next
        write asks the sentinels where the primary is (a connection kept from before a
        failover still reaches the old primary, which takes writes until Sentinel demotes it
        and then drops them), then ``check`` logs or raises."""
        if acked is None or acked < self.replicas:
            await redis.connection_pool.disconnect(inuse_connections=False)
        self.check(acked, write, required=required)


@asynccontextmanager
async def _fresh_on_error(redis: aredis.Redis) -> AsyncIterator[None]:
    """A connection error (the primary died, or was demoted: "previous master is now a
    slave") drops the idle pooled connections too: they reach the same dead or demoted
    server, and the next connection asks the sentinels where the primary is."""
    try:
        yield
    except aredis.ConnectionError:
        await redis.connection_pool.disconnect(inuse_connections=False)
        raise


class WaitingPipeline(Pipeline):
    """A MULTI/EXEC pipeline that sends ``WAIT`` right after EXEC on the connection that ran
    the transaction (WAIT counts that connection's writes; any other connection would answer
    at once). It hooks redis-py's private ``_execute_transaction`` (redis 8.1, pinned in
    requirements.lock; ``tests/integration/test_durable.py`` fails if that changes)."""

    wait_for: tuple[int, int] | None = None
    acked: int | None = None

    async def _execute_transaction(self, connection: Any, commands: Any,
                                   raise_on_error: bool) -> Any:
        result = await super()._execute_transaction(connection, commands, raise_on_error)
        if self.wait_for is not None:
            await connection.send_command("WAIT", *self.wait_for)
            self.acked = int(await connection.read_response())
        return result
