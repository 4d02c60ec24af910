"""Client-order-id markers in Redis: which gateway replica started which placement.

``SET piggy:gw:cid:<cid> NX`` before an order is sent. A replica (or a redelivery) that finds
the marker already set looks the order up at the exchange first; it places only when the
exchange has no such order and no other placement is in flight (the marker is not a fresh
``placing``), taking the marker over atomically so two replicas can't both send. A
``placing`` marker whose replica stopped sending heartbeats is not in flight any more: that
replica is gone (SIGKILLed mid-placement), and waiting for the marker to go stale would
outlast the redeliveries of its order request, which would then be dead-lettered unanswered.

``admit`` is the gateway's one call before an order: the kill switch (halted: nothing claimed),
the last price, and the marker claimed or the marker found (with its owner's heartbeat), in one
Lua script. Because the claim now comes before the pre-trade checks, a refusal before sending
finishes the marker ``rejected`` with the refusal in it (``refused``), written in the same
MULTI as the published refusal and the ack: a duplicate or a redelivery that finds it answers
the same refusal without asking the exchange, and never places that order.

Behind Sentinel the claim (and a take-over) waits for a replica before it is returned
(``shared.durable``): an order is only sent when its marker survives a failover. A marker
that is missing anyway (written on one Redis without replicas that was lost) is covered by
``orderflow``: an order request that may have been handled before is looked up at the
exchange first, marker or not.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as aredis

from shared.bus import RetryLater
from shared.durable import Durability, NotReplicated
from shared.redis_text import as_str
from shared.state import HEARTBEATS, KILL

PREFIX = "piggy:gw:cid:"
TTL_S = 7 * 24 * 3600
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""
# KEYS: kill switch, last price, marker, heartbeats. ARGV: the placing value, its TTL.
_ADMIT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {'halted'} end
local price = redis.call('GET', KEYS[2]) or ''
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'EX', ARGV[2]) then return {'claimed', price} end
local raw = redis.call('GET', KEYS[3]) or ''
local ok, data = pcall(cjson.decode, raw)
local beat = ''
if ok and type(data) == 'table' and type(data['by']) == 'string' and data['by'] ~= '' then
  beat = redis.call('ZSCORE', KEYS[4], data['by']) or ''
end
return {'seen', price, raw, beat}
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class PlacementInFlight(RetryLater):
    """Another replica is placing this client order id right now; try again later (not a
    failure: ``in_flight`` ends when the marker goes stale or its owner stops beating)."""


@dataclass(frozen=True)
class Marker:
    state: str  # placing | done | rejected | unknown
    by: str
    ts: float
    order_id: str
    raw: str
    owner_beat: float | None = None  # the owning replica's last heartbeat, when it has one
    refused: dict[str, str] | None = None  # a refusal before sending: category, code, message


@dataclass(frozen=True)
class Admission:
    """What ``admit`` found: halted (nothing claimed), else the last price (raw, maybe empty)
    and ``seen`` (None: this call claimed the marker, its value ``mine``)."""

    halted: bool
    price: str = ""
    seen: Marker | None = None
    mine: str = ""


def key(cid: str) -> str:
    return PREFIX + cid


class CidMarkers:
    def __init__(self, redis: aredis.Redis, instance_id: str, *, stale_after_s: float,
                 clock: Callable[[], float] = time.time, owner_gone_after_s: float = 3.0,
                 durability: Durability | None = None) -> None:
        self._redis = redis
        self.durability = durability or Durability()
        self._me = instance_id
        self._stale_after = stale_after_s
        self._owner_gone_after = owner_gone_after_s
        self._clock = clock

    def value(self, state: str, order_id: str = "",
              refused: dict[str, str] | None = None) -> str:
        """A marker's value, also for a write that goes out in a caller's pipeline."""
        data: dict[str, Any] = {"state": state, "by": self._me, "ts": self._clock(),
                                "order_id": order_id}
        if refused:
            data["refused"] = refused
        return json.dumps(data)

    async def admit(self, cid: str, price_key: str) -> Admission:
        """Kill switch, last price and claim in one round trip; halted claims nothing. Behind
        Sentinel a claim no replica acknowledged is dropped again and raises ``NotReplicated``
        (nothing is sent; the request is tried again)."""
        mine = self.value("placing")
        reply = await self._durable_eval(_ADMIT, (KILL, price_key, key(cid), HEARTBEATS),
                                         (mine, TTL_S), cid, mine)
        return admission(reply, mine)

    async def _durable_eval(self, script: str, keys: tuple[str, ...], args: tuple[Any, ...],
                            cid: str, mine: str, before: str | None = None) -> Any:
        """``script`` (a claim or take-over) made durable; if no replica has it, the marker
        is put back as it was (``before``, or none) and ``NotReplicated`` raised."""
        try:
            return await self.durability.script(self._redis, script, keys, args,
                                                write=f"marker {cid}", required=True)
        except NotReplicated:
            if before is None:
                await self.release(cid, mine)  # never sent: the retry may claim it at once
            else:
                await self._redis.eval(_TAKE_OVER, 1, key(cid), mine, before, TTL_S)
            raise

    async def release(self, cid: str, mine: str) -> None:
        """Drop this call's own ``placing`` marker (a failure before sending: retry at once)."""
        await self._redis.eval(_RELEASE, 1, key(cid), mine)

    def in_flight(self, marker: Marker) -> bool:
        now = self._clock()
        owner_gone = (marker.owner_beat is not None
                      and now - marker.owner_beat > self._owner_gone_after)
        return (marker.state == "placing" and now - marker.ts < self._stale_after
                and not owner_gone)

    async def take_over(self, cid: str, seen: Marker) -> str | None:
        """This call's placing value when it took the marker over, else None."""
        mine = self.value("placing")
        done = await self._durable_eval(_TAKE_OVER, (key(cid),), (seen.raw, mine, TTL_S), cid,
                                        mine, before=seen.raw)
        return mine if done else None

    async def finish(self, cid: str, state: str, order_id: str = "",
                     refused: dict[str, str] | None = None) -> None:
        value = self.value(state, order_id, refused)
        await self.durability.multi(self._redis, lambda pipe: pipe.set(key(cid), value, ex=TTL_S),
                                    write=f"marker {cid}")


def admission(reply: list[Any], mine: str) -> Admission:
    """The ``admit`` script's reply, parsed."""
    words = [as_str(w) for w in reply]
    if words[0] == "halted":
        return Admission(halted=True)
    if words[0] == "claimed":
        return Admission(False, words[1], None, mine)
    marker = parse(words[2])
    beat = float(words[3]) if words[3] else None
    return Admission(False, words[1], replace(marker, owner_beat=beat))


def parse(raw: str) -> Marker:
    try:
        data = json.loads(raw)
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    refused = data.get("refused")
    return Marker(str(data.get("state", "unknown")), str(data.get("by", "")),
                  float(data.get("ts", 0.0)), str(data.get("order_id", "")), raw,
                  refused={str(k): str(v) for k, v in refused.items()}
                  if isinstance(refused, dict) else None)
