"""Helpers for the credentials integration tests: run the services in-process, hunt for secrets.

Nothing here is a fake: the gateway and the credentials service are their real apps (real
lifespans, real Redis, real ccxt over HTTP to the sandbox); only the process boundary is skipped.
"""
from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aredis
from fastapi import FastAPI

from services.credentials import app as cred_app
from services.gateway import app as gw_app
from shared import streams
from shared.bus import decode_entry

TOKEN = "test-token-" + "x" * 24


def service_env(home: str, sandbox_url: str, **extra: str) -> dict[str, str]:
    env = {
        "PIGGY_MASTER_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "PIGGY_API_TOKEN": TOKEN,
        "PIGGY_HOME": home,
        "PIGGY_BINANCEUS_URL": sandbox_url,
        "PIGGY_EXCHANGE_TIMEOUT_MS": "3000",
        "PIGGY_REPLY_TIMEOUT_S": "10",
        "PIGGY_REVALIDATE_INTERVAL_S": "300",
    }
    env.update(extra)
    return env


@dataclass
class Running:
    api: httpx.AsyncClient
    gateway: FastAPI
    credentials: FastAPI | None
    responses: list[str]

    async def call(self, method: str, path: str, *, auth: bool = True, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"} if auth else {}
        resp = await self.api.request(method, path, headers=headers, **kw)
        self.responses.append(resp.text)
        self.responses.append(str(dict(resp.headers)))
        return resp


@asynccontextmanager
async def services(redis_url: str, responses: list[str], *,
                   with_credentials: bool = True) -> AsyncIterator[Running]:
    """A fresh gateway (and credentials service) on ``redis_url``; stopped on exit."""
    async with AsyncExitStack() as stack:
        cred = None
        if with_credentials:
            cred = cred_app.create_app(lambda: cred_app.bootstrap(redis_url=redis_url))
            await stack.enter_async_context(cred.router.lifespan_context(cred))
        gw = gw_app.create_app(lambda: gw_app.bootstrap(redis_url=redis_url))
        await stack.enter_async_context(gw.router.lifespan_context(gw))
        client = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gw), base_url="http://gateway", timeout=30))
        yield Running(client, gw, cred, responses)


async def eventually(probe: Callable[[], Awaitable[Any]], timeout: float = 10.0,
                     interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


async def stream_events(redis_url: str, stream: str = streams.CREDENTIALS) -> list[dict[str, Any]]:
    r = aredis.from_url(redis_url)
    try:
        return [decode_entry(fields) for _id, fields in await r.xrange(stream)]
    finally:
        await r.aclose()


async def redis_dump(redis_url: str) -> list[tuple[bytes, bytes]]:
    """Every key and every value in Redis as raw bytes (streams entry by entry, also decoded)."""
    r = aredis.from_url(redis_url)
    out: list[tuple[bytes, bytes]] = []
    try:
        async for key in r.scan_iter(count=1000):
            kind = (await r.type(key)).decode()
            parts: list[bytes] = [key]
            if kind == "string":
                parts.append(await r.get(key) or b"")
            elif kind == "hash":
                for k, v in (await r.hgetall(key)).items():
                    parts += [k, v]
            elif kind == "list":
                parts += await r.lrange(key, 0, -1)
            elif kind == "set":
                parts += list(await r.smembers(key))
            elif kind == "zset":
                parts += [m for m, _ in await r.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                for entry_id, fields in await r.xrange(key):
                    parts.append(entry_id)
                    for k, v in fields.items():
                        parts += [k, v]
                    parts.append(repr(decode_entry(fields)).encode())
            else:
                raise AssertionError(f"unexpected Redis type {kind} at {key!r}")
            out.append((key, b"\x00".join(parts)))
    finally:
        await r.aclose()
    return out


async def assert_secret_absent_from_redis(redis_url: str, secret: str) -> int:
    """Fails if ``secret`` (raw, or base64 of it) is in any key or value; returns keys scanned."""
    needles = [secret.encode(), base64.b64encode(secret.encode())]
    dump = await redis_dump(redis_url)
    for key, blob in dump:
        for needle in needles:
            assert needle not in blob, f"secret found in Redis key {key!r}"
    return len(dump)


def original_client_success(resp: httpx.Response) -> bool:
    """How the app CryptoPiggy replaces judged ``POST /api/credentials``: success when the JSON
    has ``ok``/``canTrade``/``validated`` true, ``status`` ok|success, or the HTTP status is 200."""
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return (resp.status_code == 200 or body.get("ok") is True or body.get("canTrade") is True
            or body.get("validated") is True
            or str(body.get("status", "")).lower() in ("ok", "success"))
