"""Running the real gateway app in the test's event loop against real Redis and the sandbox.

Nothing is faked: the app's own lifespan runs (bus, consumer groups, loops, pool), ccxt talks
HTTP to a ``SandboxServer``; only the process boundary is skipped.
"""
from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aredis
from fastapi import FastAPI
from pydantic import SecretStr

from sandbox import AsyncSandboxAdmin, SandboxServer
from services.gateway import app as gw_app
from services.gateway.context import GatewayContext
from services.gateway.handlers import Runtime, runtime
from shared import streams
from shared.books.settings import BooksSettings
from shared.bus import decode_entry
from shared.events import OrderRequested, Side
from shared.settings import ApiSettings, ExchangeSettings, GatewaySettings, VaultSettings
from shared.vault import ApiKeyPair

TOKEN = "gw-test-token-" + "y" * 24


@dataclass
class Gateway:
    app: FastAPI
    ctx: GatewayContext
    http: httpx.AsyncClient
    sandbox: SandboxServer
    admin: AsyncSandboxAdmin
    raw: aredis.Redis  # undecoded client, for reading faststream entries

    @property
    def rt(self) -> Runtime:
        return runtime(self.ctx)

    async def add_user(self, user_id: str, balances: dict[str, str] | None = None) -> dict:
        key = await self.admin.create_key(balances=balances or {"USDT": "10000"})
        await self.ctx.vault.put(user_id, "binanceus", ApiKeyPair(key["api_key"], key["secret"]))
        return key

    async def request(self, user_id: str, symbol: str, amount: str, cid: str, *,
                      live: bool = True, side: Side = Side.BUY) -> OrderRequested:
        req = OrderRequested(intent_id=f"intent-{cid}", client_order_id=cid, user_id=user_id,
                             exchange="binanceus", symbol=symbol, side=side,
                             amount_usd=Decimal(amount), live=live, requested_by="test")
        await self.ctx.bus.publish(req, streams.ORDER_REQUESTS)
        return req

    async def outcomes(self, stream: str = streams.ORDER_EVENTS) -> list[dict[str, Any]]:
        entries = await self.raw.xrange(stream)
        return [decode_entry(fields) for _, fields in entries]

    async def wait_outcomes(self, cids: list[str], timeout: float = 15.0,
                            count: int = 1) -> dict[str, list[dict[str, Any]]]:
        """Every ORDER_EVENTS body per client order id, once each cid has ``count`` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found: dict[str, list[dict[str, Any]]] = {c: [] for c in cids}
            for body in await self.outcomes():
                if body.get("client_order_id") in found:
                    found[body["client_order_id"]].append(body)
            if all(len(v) >= count for v in found.values()):
                return found
            if time.monotonic() > deadline:
                missing = [c for c, v in found.items() if len(v) < count]
                raise AssertionError(f"no outcome for {missing[:5]} ({len(missing)} missing)")
            await asyncio.sleep(0.05)


def master_key() -> SecretStr:
    return SecretStr(base64.urlsafe_b64encode(os.urandom(32)).decode())


@asynccontextmanager
async def running_gateway(redis_url: str, home: Path, *, timeout_ms: int = 2000,
                          reply_timeout_s: float = 2.0, heartbeat_s: float = 0.2,
                          ticker_s: float = 0.3, sandbox_seed: int = 1,
                          instance_id: str = "gateway-test",
                          books_url: str | None = None) -> AsyncIterator[Gateway]:
    async with SandboxServer(port=0, seed=sandbox_seed) as sb:
        ctx = gw_app.bootstrap(
            redis_url=redis_url, instance_id=instance_id,
            exchange=ExchangeSettings(binanceus_url=sb.url, exchange_timeout_ms=timeout_ms),
            gateway=GatewaySettings(heartbeat_interval_s=heartbeat_s, ticker_interval_s=ticker_s),
            api=ApiSettings(api_token=SecretStr(TOKEN), home=home, reply_timeout_s=reply_timeout_s),
            vault=VaultSettings(master_key=master_key(), home=home),
            books=BooksSettings(home=home, database_url=SecretStr(books_url) if books_url else None))
        app = gw_app.create_app(lambda: ctx)
        raw = aredis.from_url(redis_url)
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://gateway",
                                             headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                    yield Gateway(app, ctx, http, sb, AsyncSandboxAdmin(sb.url), raw)
        finally:
            await raw.aclose()
