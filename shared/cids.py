"""Client-order-id markers in Redis: which gateway replica started which placement.

``SET piggy:gw:cid:<cid> NX`` before an order is sent. A replica (or a redelivery) that finds
the marker already set looks the order up at the exchange first; it places only when the
exchange has no such order and no other placement is in flight (the marker is not a fresh
``placing``), taking the marker over atomically so two replicas can't both send. A
``placing`` marker whose replica stopped sending heartbeats is not in flight any more: that
replica is gone (SIGKILLed mid-placement), and waiting for the marker to go stale would
outlast the redeliveries of its order request, which would then be dead-lettered unanswered.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import redis.asyncio as aredis

from shared.redis_text import as_str
from shared.state import HEARTBEATS

PREFIX = "piggy:gw:cid:"
TTL_S = 7 * 24 * 3600
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


class PlacementInFlight(RuntimeError):
    """Another replica is placing this client order id right now; try again later."""


@dataclass(frozen=True)
class Marker:
    state: str  # placing | done | rejected | unknown
    by: str
    ts: float
    order_id: str
    raw: str
    owner_beat: float | None = None  # the owning replica's last heartbeat, when it has one


def key(cid: str) -> str:
    return PREFIX + cid


class CidMarkers:
    def __init__(self, redis: aredis.Redis, instance_id: str, *, stale_after_s: float,
                 clock: Callable[[], float] = time.time, owner_gone_after_s: float = 3.0) -> None:
        self._redis = redis
        self._me = instance_id
        self._stale_after = stale_after_s
        self._owner_gone_after = owner_gone_after_s
        self._clock = clock

    def _value(self, state: str, order_id: str = "") -> str:
        return json.dumps({"state": state, "by": self._me, "ts": self._clock(),
                           "order_id": order_id})

    async def claim(self, cid: str) -> Marker | None:
        """None when this call set the marker (first sight); else the marker found."""
        if await self._redis.set(key(cid), self._value("placing"), nx=True, ex=TTL_S):
            return None
        raw = await self._redis.get(key(cid))
        if raw is None:  # expired between the two calls: claim again
            return await self.claim(cid)
        marker = parse(as_str(raw))
        beat = await self._redis.zscore(HEARTBEATS, marker.by) if marker.by else None
        return replace(marker, owner_beat=float(beat) if beat is not None else None)

    def in_flight(self, marker: Marker) -> bool:
        now = self._clock()
        owner_gone = (marker.owner_beat is not None
                      and now - marker.owner_beat > self._owner_gone_after)
        return (marker.state == "placing" and now - marker.ts < self._stale_after
                and not owner_gone)

    async def take_over(self, cid: str, seen: Marker) -> bool:
        done = await self._redis.eval(_TAKE_OVER, 1, key(cid), seen.raw, self._value("placing"),
                                      TTL_S)
        return bool(done)

    async def finish(self, cid: str, state: str, order_id: str = "") -> None:
        await self._redis.set(key(cid), self._value(state, order_id), ex=TTL_S)


def parse(raw: str) -> Marker:
    try:
        data = json.loads(raw)
    except ValueError:
        data = {}
    return Marker(str(data.get("state", "unknown")), str(data.get("by", "")),
                  float(data.get("ts", 0.0)), str(data.get("order_id", "")), raw)
