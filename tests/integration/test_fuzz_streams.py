"""Random and malformed entries on every consumed stream: dead-lettered, never a crash loop.

The real services run as processes. Each stream a service consumes gets raw XADDs (seeded
random bytes, truncated faststream frames, JSON of the wrong shape, fields without a body,
a huge body) and well-formed faststream messages with bodies of the wrong schema. Then: every
consumer group's pending list drains to 0, the bad entries are in the dead-letter stream,
every service is still the same healthy process, and a real intent still gets its outcome.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aredis
from faststream.redis.parser import BinaryMessageFormatV1

from bench.harness import env_flag, pending_count, stream_bodies
from piggy import ops
from shared import streams
from tests.support.inprocess import client_bus
from tests.support.stack import running_stack

pytestmark = [pytest.mark.integration, pytest.mark.chaos]  # short in make test, long in make chaos

CONSUMED = [streams.INTENTS, streams.ORDER_REQUESTS, streams.ORDER_EVENTS, streams.CREDENTIALS,
            streams.COMMANDS, streams.TICKERS, streams.BALANCES, streams.TRADES]
PER_STREAM = 60 if env_flag("PIGGY_CHAOS_FULL") else 14
IDENTITY = BinaryMessageFormatV1.IDENTITY_HEADER


def _junk(rng: random.Random) -> Any:
    pick = rng.randrange(6)
    if pick == 0:
        return rng.randbytes(rng.randrange(0, 64))
    if pick == 1:
        return rng.choice(["", "null", "[]", "{", "\"x\"", "1e999", "{\"type\": 7}"])
    if pick == 2:
        return {"type": rng.choice(["OrderIntent", "OrderPlaced", "ArmLive", "Ticker", "x"]),
                "amount_usd": rng.choice(["-1", "abc", 1e308, None, [], "NaN"]),
                "user_id": rng.choice(["", "u" * 500, None, 3])}
    if pick == 3:
        return [rng.random() for _ in range(rng.randrange(5))]
    if pick == 4:
        return rng.randrange(-10**20, 10**20)
    return "x" * rng.randrange(0, 200_000)


def _raw_fields(rng: random.Random) -> dict[bytes, bytes]:
    pick = rng.randrange(5)
    if pick == 0:  # a faststream frame, cut short or corrupted
        frame = IDENTITY + rng.randbytes(rng.randrange(0, 40))
        return {b"__data__": frame}
    if pick == 1:
        return {b"__data__": rng.randbytes(rng.randrange(0, 100))}
    if pick == 2:
        return {b"__data__": json.dumps({"type": "OrderIntent", "amount_usd": "x"}).encode()}
    if pick == 3:  # no body field at all
        return {rng.randbytes(4) or b"k": rng.randbytes(8)}
    return {b"__data__": b"", b"extra": b"1"}


async def _flood(redis_url: str, seed: int) -> None:
    rng = random.Random(seed)
    raw = aredis.from_url(redis_url)
    async with client_bus(redis_url) as bus:
        for stream in CONSUMED:
            for i in range(PER_STREAM):
                if i % 2:
                    await raw.xadd(stream, _raw_fields(rng), maxlen=10_000, approximate=True)
                else:
                    await bus.broker.publish(_junk(rng), stream=stream, maxlen=10_000)
    await raw.aclose()


async def _drained(redis_url: str, timeout: float) -> dict[str, int]:
    r = aredis.from_url(redis_url, decode_responses=True)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left: dict[str, int] = {}
            for stream in CONSUMED:
                for group in await r.xinfo_groups(stream):
                    n = await pending_count(r, stream, group["name"])
                    lag = group.get("lag") or 0
                    if n or lag:
                        left[f"{stream}/{group['name']}"] = n + lag
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(0.5)
    finally:
        await r.aclose()


async def _dead_letters(redis_url: str) -> list[dict[str, Any]]:
    r = aredis.from_url(redis_url)
    try:
        return await stream_bodies(r, streams.DEAD_LETTER)
    finally:
        await r.aclose()


def test_random_and_malformed_entries_are_dead_lettered_and_services_stay_up(
        redis_url: str, tmp_path: Path) -> None:
    env = {"PIGGY_CLAIM_IDLE_MS": "500", "PIGGY_HEARTBEAT_MAX_AGE_S": "5"}
    with running_stack(tmp_path, redis_url, env) as stack:
        pids = {c.name: c.proc.pid for c in stack.children if c.proc is not None}
        asyncio.run(_flood(redis_url, seed=3))
        left = asyncio.run(_drained(redis_url, timeout=40))
        assert left == {}, f"entries never settled (pending + lag): {left}"

        letters = asyncio.run(_dead_letters(redis_url))
        by_stream: dict[str, int] = {}
        for d in letters:
            by_stream[d.get("stream", "?")] = by_stream.get(d.get("stream", "?"), 0) + 1
        for stream in CONSUMED:
            assert by_stream.get(stream, 0) >= PER_STREAM // 2, (stream, by_stream)

        for child in stack.children:  # same processes, all healthy: no crash, no restart
            assert child.proc is not None and child.proc.poll() is None, child.log_tail()
            assert child.proc.pid == pids[child.name]
            assert httpx.get(child.health_url, timeout=2).status_code == 200, child.name

        _intent, line = asyncio.run(ops.test_buy(redis_url, user_id="after-fuzz", symbol="BTC/USDT",
                                             usd=Decimal(2),
                                             exchange="binanceus", timeout_s=15))
        assert line is not None and line.mode.value == "PAPER", line
