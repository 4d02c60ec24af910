"""Waiting for one intent's outcome: one blocking read of a per-intent stream, then the trade
log once.

The executor's commit (``services/executor/ledger.py``, the ``finish`` step of the Lua
script that records the outcome and writes the trade line) also adds the trade line to
``piggy:outcome:{intent_id}``, a one-entry stream, and gives it ``outcome_key_ttl_s`` to live:
written in the same atomic step as the ledger and the trade log, so a caller can never see an
outcome the trade log does not hold, and nothing accumulates. Only for intents that say a
caller may wait (``OrderIntent.await_outcome``, true by default): a one-entry stream holds
about 4.7 KB (``MEMORY USAGE``), so a strategy's or a backlog's intents, which nobody waits on,
send false and cost no key (at 2,800 paper intents/s and 60 s that would be ~800 MB).

A caller (``POST /api/trade``, ``piggy test-buy``, through :func:`wait`) blocks on it with
``XREAD BLOCK <remaining ms> STREAMS piggy:outcome:{id} 0-0``: it answers at once when the
entry is there, else the moment the executor writes it. Why a stream read and not
``BLPOP``/``BLMOVE`` on a list:

* XREAD reads without consuming: a second caller, a retry of the same request, or a client
  whose connection dropped after Redis answered gets the same answer from the same key —
  ``BLPOP`` hands the one element to one waiter only (every other would wait in vain), and
  ``BLMOVE key key`` (a rotation that puts it back) is a write, so the waiting side would
  need write access to the key family and could not read from a replica.
* The waiting side needs one read-only command on one key family (the gateway's ACL: ``XREAD``
  on ``piggy:outcome:*``, nothing else).
* The executor's side costs what a list's would in calls: one XADD and one EXPIRE inside the
  script it already runs (no extra round trip). Not in memory (~4.7 KB against ~0.9 KB for
  ``outcome_key_ttl_s`` seconds, default 60): hence only for intents a caller may wait on.

Then, once, the trade log (``tradelog.read``): a caller whose blocking read missed the entry —
it started after the key expired, or its Redis was replaced by a failover between the
executor's write and its read — still finds an outcome that was logged. A dropped
connection during the wait (a failover under Sentinel) is retried against the current
primary for the time left, and so is a read Redis itself unblocks when its server is demoted
(``UNBLOCKED ...``); each attempt is bounded by that time, never longer than asked.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

import redis.asyncio as aredis
from pydantic import ValidationError

from shared import tradelog
from shared.events import TradeLogged

PREFIX = "piggy:outcome:"
FIELD = "line"
MAX_WAIT_S = 300.0  # the longest wait a caller may ask of POST /api/trade (``waitS``)
TTL_S = 60  # how long the outcome key stays after the executor writes it
RETRY_PAUSE_S = 0.1  # after a dropped connection, before asking the (new) primary again
GRACE_S = 0.5  # a blocking read's answer may take this long past its own timeout to arrive
# what Redis answers a blocked client when its server turns into a replica (a failover): the
# read is asked again, of the server the client reaches now (a replica holds the entry too)
UNBLOCKED = "UNBLOCKED"


def key(intent_id: str) -> str:
    return PREFIX + intent_id


async def wait(redis: aredis.Redis, intent_id: str, timeout_s: float) -> TradeLogged | None:
    """The intent's trade line, waiting up to ``timeout_s`` for it: one blocking read (again
    only after a dropped connection), then the trade log once. None: no outcome in time."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            async with asyncio.timeout(left + GRACE_S):
                reply = await redis.xread({key(intent_id): "0-0"}, count=1,
                                          block=max(1, int(left * 1000)))
        except (aredis.ConnectionError, aredis.TimeoutError, TimeoutError,
                aredis.ResponseError) as exc:
            if isinstance(exc, aredis.ResponseError) and not str(exc).startswith(UNBLOCKED):
                raise
            await asyncio.sleep(min(RETRY_PAUSE_S, max(0.0, deadline - time.monotonic())))
            continue
        found = first_line(reply)
        if found is not None:
            return found
        break  # the read timed out: the time is up
    lines = await tradelog.read(redis, intent_id=intent_id, limit=1, scan=2000)
    return lines[0] if lines else None


def first_line(reply: Any) -> TradeLogged | None:
    """The trade line in an XREAD reply (RESP2: ``[[key, [(id, fields)]]]``, RESP3:
    ``{key: [[(id, fields)]]}``); None for an empty reply."""
    if not reply:
        return None
    per_key = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]
    entries = per_key[0] if per_key and isinstance(per_key[0], list) else per_key
    for _entry_id, fields in entries:
        value = fields.get(FIELD) or fields.get(FIELD.encode())
        if value is not None:
            try:
                return TradeLogged.model_validate_json(value)
            except ValidationError:
                return None  # not the executor's line: the trade log decides
    return None
