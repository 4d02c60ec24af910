"""The trade history from the journal: ``GET /api/trades`` (paginated, per-user token scope,
404 for a user nobody knows) and ``piggy trades``, on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from piggy import cli
from shared import state, streams, tokens
from shared.events import OrderIntent
from tests.integration.gateway_support import running_gateway
from tests.support.books_db import books_service
from tests.support.inprocess import executor

pytestmark = pytest.mark.integration


async def test_history_pages_newest_first_within_each_users_scope(
        redis_url: str, database_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path, books_url=database_url) as gw, \
            executor(redis_url), books_service(redis_url, database_url):
        redis = gw.ctx.bus.redis
        alice, _ = await tokens.create(redis, "alice")
        as_alice = {"Authorization": f"Bearer {alice}"}
        empty = await gw.http.get("/api/trades", params={"userId": "alice"}, headers=as_alice)
        await state.set_last_price(redis, "binanceus", "BTC/USDT", Decimal(50000))
        for i in range(25):
            await gw.ctx.bus.publish(OrderIntent(user_id="alice", symbol="BTC/USDT",
                                                 amount_usd=Decimal(2) + i), streams.INTENTS)
        for _ in range(3):
            await gw.ctx.bus.publish(OrderIntent(user_id="bob", symbol="BTC/USDT",
                                                 amount_usd=Decimal(5)), streams.INTENTS)
        deadline = time.monotonic() + 20
        while len((await gw.http.get("/api/trades", params={"limit": 100})).json()) < 28:
            assert time.monotonic() < deadline, "the journal did not get every line"
            await asyncio.sleep(0.1)
        pages, before = [], None
        while True:
            params = {"userId": "alice", "limit": 10} | ({"before": before} if before else {})
            resp = await gw.http.get("/api/trades", params=params, headers=as_alice)
            assert resp.status_code == 200, resp.text
            pages.append(resp.json())
            before = resp.headers.get("x-piggy-next-page")
            if not before:
                break
        bobs = await gw.http.get("/api/trades", params={"userId": "bob"}, headers=as_alice)
        everyone = await gw.http.get("/api/trades", headers=as_alice)
        nobody = await gw.http.get("/api/trades", params={"userId": "nobody"})
        bad_cursor = await gw.http.get("/api/trades", params={"userId": "alice", "before": "x"})
    assert empty.status_code == 200 and empty.json() == []  # her own token: known, no trades yet
    assert [len(p) for p in pages] == [10, 10, 5]
    lines = [ln for p in pages for ln in p]
    assert {ln["user_id"] for ln in lines} == {"alice"}
    assert len({ln["intent_id"] for ln in lines}) == 25
    assert [ln["amount_usd"] for ln in lines] == [str(26 - i) for i in range(25)]  # newest first
    assert all(ln["mode"] == "PAPER" and ln["status"] == "filled" for ln in lines)
    assert bobs.status_code == 403 and everyone.status_code == 403
    assert nobody.status_code == 404 and nobody.json()["userId"] == "nobody"
    assert "nobody" in nobody.json()["detail"]
    assert bad_cursor.status_code == 422


async def test_piggy_trades_reads_the_journal_page_by_page(
        redis_url: str, database_url: str, tmp_path: Path) -> None:
    async with executor(redis_url), books_service(redis_url, database_url) as ctx:
        await state.set_last_price(ctx.bus.redis, "binanceus", "BTC/USDT", Decimal(50000))
        for i in range(7):
            await ctx.bus.publish(OrderIntent(user_id="carl", symbol="BTC/USDT",
                                              amount_usd=Decimal(2) + i), streams.INTENTS)
        deadline = time.monotonic() + 20
        while ctx.journaled < 7:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    env = {"PIGGY_DATABASE_URL": database_url, "PIGGY_HOME": str(tmp_path), "COLUMNS": "250"}

    def piggy(*args: str) -> Result:
        return CliRunner().invoke(cli.app, list(args), env=env)

    first = await asyncio.to_thread(piggy, "trades", "--user", "carl", "--limit", "5", "--json")
    cursor = first.stderr.split("--before '")[1].split("'")[0]
    rest = await asyncio.to_thread(piggy, "trades", "--user", "carl", "--before", cursor, "--json")
    unknown = await asyncio.to_thread(piggy, "trades", "--user", "zed")
    assert first.exit_code == 0, first.stderr
    got = [ln["amount_usd"] for ln in json.loads(first.stdout) + json.loads(rest.stdout)]
    assert got == ["8", "7", "6", "5", "4", "3", "2"]
    assert unknown.exit_code == 1 and unknown.stderr.count("\n") == 1
    assert "unknown user 'zed'" in unknown.stderr
    password = database_url.split(":")[2].split("@")[0] if "@" in database_url else None
    assert password is None or all(password not in r.stderr + r.stdout for r in (first, rest, unknown))
