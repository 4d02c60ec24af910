"""Client-order-id markers on a real Redis: first sight, another replica mid-placement, stale
take-over (atomic: only one of two replicas wins)."""
from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aredis

from shared.cids import CidMarkers, Marker

pytestmark = pytest.mark.integration


async def seen(markers: CidMarkers, cid: str) -> Marker | None:
    """The marker ``admit`` found (None: this call claimed it)."""
    return (await markers.admit(cid, "piggy:test:price")).seen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_second_replica_sees_a_fresh_placement_in_flight_then_may_take_over_when_stale(
        redis_url: str) -> None:
    redis = aredis.from_url(redis_url, decode_responses=True)
    clock = Clock()
    a = CidMarkers(redis, "gw-a", stale_after_s=10, clock=clock)
    b = CidMarkers(redis, "gw-b", stale_after_s=10, clock=clock)
    c = CidMarkers(redis, "gw-c", stale_after_s=10, clock=clock)
    try:
        assert await seen(a, "cid-1") is None  # first sight: a places
        found = await seen(b, "cid-1")
        assert found is not None and found.by == "gw-a" and b.in_flight(found)
        clock.now += 11  # a died mid-placement
        seen_b, seen_c = await seen(b, "cid-1"), await seen(c, "cid-1")
        assert not b.in_flight(seen_b)
        wins = await asyncio.gather(b.take_over("cid-1", seen_b), c.take_over("cid-1", seen_c))
        assert sorted(bool(w) for w in wins) == [False, True]
        await b.finish("cid-1", "done", "1234")
        done = await seen(c, "cid-1")
        assert (done.state, done.order_id) == ("done", "1234") and not c.in_flight(done)
    finally:
        await redis.aclose()
