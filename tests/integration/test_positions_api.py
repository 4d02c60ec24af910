"""``GET /api/positions/{user}`` over the real pipeline: a paper buy through the gateway and
the executor, journaled by the books service into SQLite, read back as a position valued at
the gateway's cached price; an unknown user is a 404 naming the user, never a 500."""
from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shared import state
from shared.books.settings import BooksSettings
from tests.integration.gateway_support import running_gateway
from tests.support.books_db import books_service
from tests.support.inprocess import executor

pytestmark = pytest.mark.integration

GOOD = {"userId": "alice", "exchange": "binanceus", "symbolCcxt": "BTC/USDT", "amountUsd": "25"}


async def _positions(http: Any, user: str) -> dict[str, Any]:
    for _ in range(200):
        answer = await http.get(f"/api/positions/{user}")
        if answer.status_code == 200 and answer.json()["positions"]:
            return dict(answer.json())
        await asyncio.sleep(0.05)
    raise AssertionError(f"no position for {user}: {answer.status_code} {answer.text}")


async def test_a_paper_buy_shows_as_a_position_with_its_fee(redis_url: str,
                                                             tmp_path: Path) -> None:
    url = BooksSettings(home=tmp_path).url()
    async with running_gateway(redis_url, tmp_path) as gw, executor(redis_url), \
            books_service(redis_url, url):
        for _ in range(200):
            if await state.last_price(gw.ctx.bus.redis, "binanceus", "BTC/USDT"):
                break
            await asyncio.sleep(0.05)
        placed = await gw.http.post("/api/trade", json=GOOD)
        assert placed.status_code == 200, placed.text
        body = await _positions(gw.http, "alice")
        unknown = await gw.http.get("/api/positions/nobody")
        price = await state.last_price(gw.ctx.bus.redis, "binanceus", "BTC/USDT")
        kept = await state.market_rules(gw.ctx.bus.redis, "binanceus", "BTC/USDT")
    [p] = body["positions"]
    trade = placed.json()
    # the paper fill followed the market rules the gateway keeps: binanceus's lot step
    assert kept is not None and Decimal(str(trade["filled"])) % Decimal("0.00001") == 0
    assert body["method"] == p["method"] == "FIFO"
    assert (p["exchange"], p["asset"], p["quote"], p["mode"]) == ("binanceus", "BTC", "USDT",
                                                                  "PAPER")
    fee = Decimal(p["fees"]["BTC"])  # binance charges a buy's fee in what it receives
    assert fee > 0 and Decimal(p["quantity"]) == Decimal(str(trade["filled"])) - fee
    assert Decimal(p["cost_basis"]) == Decimal(str(trade["cost"])) <= 25
    assert Decimal(p["value"]) == Decimal(p["quantity"]) * Decimal(p["last_price"])
    assert Decimal(p["last_price"]) > 0 and price is not None
    assert Decimal(p["unrealized_pnl"]) == Decimal(p["value"]) - Decimal(p["cost_basis"])
    assert unknown.status_code == 404 and unknown.json()["userId"] == "nobody"
