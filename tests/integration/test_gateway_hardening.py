"""Bad requests against the real gateway over real HTTP (uvicorn on a free port, one kept-alive
connection), with the real executor, real Redis and the sandbox: every one a JSON 4xx, the
connection still usable after it; paper fills only for real markets at the exchange's price;
``mode: live`` is live or a 409; poison trade-log lines are dead-lettered by the journal, never
a 500 in the history."""
from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from piggy.ops import wait_outcome
from shared import state, streams, tradelog
from shared.bus import Bus
from shared.events import Mode, OrderIntent
from tests.integration.gateway_support import TOKEN, Gateway, running_gateway
from tests.support.books_db import books_service
from tests.support.inprocess import client_bus, executor
from tests.support.redis_server import free_port

pytestmark = pytest.mark.integration

GOOD = {"userId": "alice", "exchange": "binanceus", "symbolCcxt": "BTC/USDT", "amountUsd": "2"}


@dataclass
class Served:
    gw: Gateway
    port: int


@asynccontextmanager
async def served(redis_url: str, home: Path) -> AsyncIterator[Served]:
    """The gateway app under uvicorn (real sockets, real keep-alive), an executor and the
    books (the history's journal, in the gateway's state folder)."""
    async with running_gateway(redis_url, home) as gw, executor(redis_url), \
            books_service(redis_url, f"sqlite:///{home / 'books.sqlite3'}"):
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(gw.app, host="127.0.0.1", port=port,
                                               lifespan="off", log_level="warning"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        try:
            await _until_price(gw.ctx.bus.redis, "BTC/USDT")
            yield Served(gw, port)
        finally:
            server.should_exit = True
            await task


async def _until_price(redis: Any, symbol: str) -> Decimal:
    for _ in range(200):
        price = await state.last_price(redis, "binanceus", symbol)
        if price is not None:
            return price
        await asyncio.sleep(0.05)
    raise AssertionError(f"no ticker price for {symbol}")


class KeptConnection:
    """One HTTP/1.1 connection (stdlib ``http.client``), used from a thread; ``socket_id``
    changes if the server dropped it and a new one had to be opened."""

    def __init__(self, port: int, token: str = TOKEN) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        self.token = token

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        self.conn.request(method, path, body=body, headers={
            "Authorization": f"Bearer {self.token}", **(headers or {})})
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    @property
    def socket_id(self) -> int:
        return id(self.conn.sock)


def _raw(body: str) -> bytes:
    return body.encode()


BAD_TRADES: list[tuple[str, bytes, dict[str, str], int, str]] = [
    # (label, body, extra headers, expected status, text expected in the error)
    ("NaN amount", _raw('{"userId":"alice","symbolCcxt":"BTC/USDT","amountUsd":NaN}'), {}, 422, "amountUsd"),
    ("Infinity amount", _raw('{"userId":"alice","symbolCcxt":"BTC/USDT","amountUsd":Infinity}'), {}, 422, "amountUsd"),
    ("-Infinity amount", _raw('{"userId":"alice","symbolCcxt":"BTC/USDT","amountUsd":-Infinity}'), {}, 422, "amountUsd"),
    ("1e400 amount", _raw('{"userId":"alice","symbolCcxt":"BTC/USDT","amountUsd":1e400}'), {}, 422, "amountUsd"),
    ("negative amount", _raw('{"userId":"alice","symbolCcxt":"BTC/USDT","amountUsd":-2}'), {}, 422, "amountUsd"),
    ("zero amount", _raw('{"userId":"alice","symbolCcxt":"BTC/USDT","amountUsd":0}'), {}, 422, "amountUsd"),
    ("huge amount", _raw('{"userId":"alice","symbolCcxt":"BTC/USDT","amountUsd":"1e12"}'), {}, 422, "amountUsd"),
    ("amount as text", _raw('{"userId":"alice","symbolCcxt":"BTC/USDT","amountUsd":"two"}'), {}, 422, "amountUsd"),
    ("path symbol", _raw('{"userId":"alice","symbolCcxt":"../../etc","amountUsd":2}'), {}, 422, "symbolCcxt"),
    ("sql symbol", _raw('{"userId":"alice","symbolCcxt":"BTC/USDT; DROP","amountUsd":2}'), {}, 422, "symbolCcxt"),
    ("unicode symbol", _raw('{"userId":"alice","symbolCcxt":"\\u20bf/USDT","amountUsd":2}'), {}, 422, "symbolCcxt"),
    ("unknown symbol", _raw('{"userId":"alice","symbolCcxt":"BTC/USDX","amountUsd":2}'), {}, 422, "BTC/USDT"),
    ("unknown exchange", _raw('{"userId":"alice","exchange":"mtgox","symbolCcxt":"BTC/USDT","amountUsd":2}'), {}, 422, "exchange"),
    ("exchange not served", _raw('{"userId":"alice","exchange":"kraken","symbolCcxt":"BTC/USDT","amountUsd":2}'), {}, 422, "not served"),
    ("user with slash", _raw('{"userId":"a/b","symbolCcxt":"BTC/USDT","amountUsd":2}'), {}, 422, "userId"),
    ("user with space", _raw('{"userId":"a b","symbolCcxt":"BTC/USDT","amountUsd":2}'), {}, 422, "userId"),
    ("user with NUL", _raw('{"userId":"a\\u0000b","symbolCcxt":"BTC/USDT","amountUsd":2}'), {}, 422, "userId"),
    ("user too long", _raw(json.dumps({**GOOD, "userId": "u" * 65})), {}, 422, "userId"),
    ("no symbol", _raw('{"userId":"alice","amountUsd":2}'), {}, 422, "symbol"),
    ("mode paper", _raw(json.dumps({**GOOD, "mode": "paper"})), {}, 422, "mode"),
    ("not JSON", b"{not json", {}, 422, "body"),
    ("JSON array", b"[1,2]", {}, 422, ""),
    ("text/plain", _raw(json.dumps(GOOD)), {"Content-Type": "text/plain"}, 415, "content type"),
    ("form", b"userId=alice&amountUsd=2", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "JSON"),
]

BAD_OTHER: list[tuple[str, str, str, bytes | None, int]] = [
    ("live status, 1,024-character user", "GET", "/api/live/" + "u" * 1024, None, 422),
    ("live status, user with space", "GET", "/api/live/a%20b", None, 422),
    ("live status, NUL in user", "GET", "/api/live/a%00b", None, 422),
    ("live status, unknown exchange", "GET", "/api/live/alice?exchange=mtgox", None, 422),
    ("balance, 1,024-character user", "GET", "/api/balance/" + "u" * 1024, None, 422),
    ("balance, exchange not served", "GET", "/api/balance/alice?exchange=kraken", None, 422),
    ("credentials, long user", "GET", "/api/credentials/" + "u" * 1024, None, 422),
    ("trades, bad user", "GET", "/api/trades?userId=a%2Fb", None, 422),
    ("trades, limit 0", "GET", "/api/trades?limit=0", None, 422),
    ("arm, NaN-bearing junk", "POST", "/api/live/arm", b'{"userId":"alice","x":NaN}', 422),
    ("arm, user with slash", "POST", "/api/live/arm", b'{"userId":"a/b"}', 422),
    ("disarm, no body", "POST", "/api/live/disarm", None, 422),
    ("kill, text body", "POST", "/api/kill", b"stop!", 422),
]


async def test_bad_requests_get_a_json_4xx_and_the_connection_stays_usable(
        redis_url: str, tmp_path: Path) -> None:
    async with served(redis_url, tmp_path) as srv:
        conn = KeptConnection(srv.port)
        first = await asyncio.to_thread(conn.request, "GET", "/api/health")
        assert first[0] == 200
        sock = conn.socket_id
        problems = []
        cases = [(label, "POST", "/api/trade", body, headers, code, text)
                 for label, body, headers, code, text in BAD_TRADES]
        cases += [(label, method, path, body, {}, code, "") for label, method, path, body, code in BAD_OTHER]
        for label, method, path, body, headers, code, text in cases:
            hdrs = ({"Content-Type": "application/json"} if body is not None else {}) | headers
            status, got_headers, data = await asyncio.to_thread(conn.request, method, path, body, hdrs)
            try:
                answer = json.loads(data)
            except ValueError:
                answer = None
            if status != code or answer is None or text not in data.decode("utf-8", "replace"):
                problems.append(f"{label}: {status} {data[:200]!r}")
            if got_headers.get("connection", "").lower() == "close":
                problems.append(f"{label}: server closed the connection")
            after = await asyncio.to_thread(conn.request, "GET", "/api/health")
            if after[0] != 200 or conn.socket_id != sock:
                problems.append(f"{label}: the next request on the connection failed ({after[0]})")
        assert problems == [], "\n".join(problems)
        # nothing of that reached the executor: not one intent, not one trade-log line
        assert await srv.gw.ctx.bus.redis.xlen(streams.INTENTS) == 0


async def test_paper_fills_are_at_the_exchanges_own_price(redis_url: str, tmp_path: Path) -> None:
    async with served(redis_url, tmp_path) as srv:
        http = srv.gw.http
        # SOL/USDT is in the sandbox's markets but not among the ticker loop's symbols: the
        # gateway fetches its ticker before publishing
        await srv.gw.admin.set_price("SOLUSDT", "123.45")
        sol = await http.post("/api/trade", json={**GOOD, "symbolCcxt": "", "symbol": "SOLUSDT"})
        btc = await http.post("/api/trade", json=GOOD)
        redis = srv.gw.ctx.bus.redis
        sol_lines = await tradelog.read(redis, intent_id=sol.json()["intentId"])
        btc_lines = await tradelog.read(redis, intent_id=btc.json()["intentId"])
        btc_price = await state.last_price(redis, "binanceus", "BTC/USDT")
    assert sol.status_code == 200 and sol.json()["status"] == "filled", sol.text
    assert sol_lines[0].symbol == "SOL/USDT" and sol_lines[0].mode is Mode.PAPER
    assert sol_lines[0].price == Decimal("123.45")
    assert btc.status_code == 200 and btc_lines[0].price is not None
    assert abs(btc_lines[0].price - btc_price) / btc_price < Decimal("0.01")  # the ticker's


async def test_without_a_price_the_executor_rejects_instead_of_inventing_one(redis_url: str) -> None:
    async with executor(redis_url), client_bus(redis_url) as bus:
        intent = OrderIntent(user_id="alice", symbol="XRP/USDT", amount_usd=Decimal(2))
        await bus.publish(intent, streams.INTENTS)
        line = await wait_outcome(bus, intent.intent_id, 10)
    assert line is not None and line.status == "rejected" and line.mode is Mode.NONE
    assert any("no price for XRP/USDT" in r for r in line.reasons), line.reasons
    assert line.price is None


async def test_mode_live_answers_409_with_every_closed_gate_never_a_paper_fill(
        redis_url: str, tmp_path: Path) -> None:
    async with served(redis_url, tmp_path) as srv:
        http = srv.gw.http
        live = await http.post("/api/trade", json={**GOOD, "mode": "live"})
        upper = await http.post("/api/trade", json={**GOOD, "mode": "LIVE"})
        plain = await http.post("/api/trade", json=GOOD)
        lines = await tradelog.read(srv.gw.ctx.bus.redis, user_id="alice")
    assert live.status_code == 409, live.text
    body = live.json()
    assert body["ok"] is False and body["mode"] != "PAPER" and body["orderId"] is None
    closed = {r.split(":")[0] for r in body["reasons"]}
    assert {"allow_live", "credentials", "armed"} <= closed, body["reasons"]
    assert all(r in body["error"] for r in body["reasons"])
    assert upper.status_code == 409
    assert plain.status_code == 200 and plain.json()["mode"] == "PAPER"  # unchanged without mode
    assert sorted(ln.mode.value for ln in lines) == ["NONE", "NONE", "PAPER"]


async def test_a_poison_trade_log_line_is_dead_lettered_not_a_500_in_the_history(
        redis_url: str, tmp_path: Path) -> None:
    async with served(redis_url, tmp_path) as srv:
        http = srv.gw.http
        bus: Bus = srv.gw.ctx.bus
        await bus.broker.publish({"type": "TradeLogged", "user_id": "alice", "amount_usd": "NaN"},
                                 stream=streams.TRADES)
        await bus.redis.xadd(streams.TRADES, {"junk": "\x00\xff"})
        good = await http.post("/api/trade", json=GOOD)
        for _ in range(200):  # the journal writes the line a moment after the answer
            listed = await http.get("/api/trades", params={"userId": "alice"})
            if listed.status_code == 200 and listed.json():
                break
            await asyncio.sleep(0.05)
        again = await http.get("/api/trades")
        letters = await srv.gw.outcomes(streams.DEAD_LETTER)
    assert good.status_code == 200
    assert listed.status_code == 200, listed.text
    assert [ln["intent_id"] for ln in listed.json()] == [good.json()["intentId"]]
    assert again.status_code == 200 and len(again.json()) == 1
    reasons = [d["reason"] for d in letters if d["group"] == "books"]
    assert len(reasons) == 2 and any("schema" in r for r in reasons), letters


async def test_a_poison_price_is_no_price_for_balances_and_paper_fills(
        redis_url: str, tmp_path: Path) -> None:
    async with served(redis_url, tmp_path) as srv:
        gw = srv.gw
        await gw.add_user("alice", {"USDT": "10", "SOL": "1"})
        await gw.ctx.bus.redis.set(state.price_key("binanceus", "SOL/USDT"), "NaN")
        balance = await gw.http.get("/api/balance/alice")
        async with client_bus(redis_url) as bus:
            intent = OrderIntent(user_id="alice", symbol="XRP/USDT", amount_usd=Decimal(2))
            await bus.redis.set(state.price_key("binanceus", "XRP/USDT"), "not a price")
            await bus.publish(intent, streams.INTENTS)
            line = await wait_outcome(bus, intent.intent_id, 10)
    assert balance.status_code == 200, balance.text
    assert balance.json()["balances"]["SOL"]["usd"] is None  # no value rather than a 500
    assert line is not None and line.status == "rejected"
    assert any("no price" in r for r in line.reasons)
