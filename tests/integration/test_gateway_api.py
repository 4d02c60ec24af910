"""The gateway's HTTP API, heartbeats and tickers: real Redis, the sandbox over HTTP, the real
app in-process (its lifespan, its loops)."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aredis

from services.gateway.handlers import runtime
from shared import state, streams
from shared.bus import Bus
from shared.events import BalanceReport, Mode, OrderIntent, QueryBalance, Side, TradeLogged
from tests.integration.gateway_support import running_gateway
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.integration


async def _until(check, timeout: float = 10.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(every)


async def test_balance_returns_the_sandbox_numbers(redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        key = await gw.add_user("ann", {"USDT": "123.45", "BTC": "0.5"})
        await _until(lambda: state.last_price(gw.ctx.bus.redis, "binanceus", "BTC/USDT"))
        response = await gw.http.get("/api/balance/ann")
        truth = await gw.admin.get_key(key["api_key"])
        reply = await gw.ctx.bus.broker.request(QueryBalance(user_id="ann").model_dump(mode="json"),
                                                stream=streams.BALANCES, timeout=5.0)
        over_bus = BalanceReport.model_validate(await reply.decode())
        missing = await gw.http.get("/api/balance/nobody")
    assert response.status_code == 200, response.text
    body = response.json()
    sandbox = {b["asset"]: b for b in truth["balances"]}
    for asset in ("USDT", "BTC"):
        got = body["balances"][asset]
        assert Decimal(got["free"]) == Decimal(sandbox[asset]["free"])
        assert Decimal(got["used"]) == Decimal(sandbox[asset]["locked"])
        assert Decimal(got["total"]) == Decimal(sandbox[asset]["free"]) + Decimal(
            sandbox[asset]["locked"])
    assert body["balances"]["USDT"]["usd"] == "123.45"
    assert Decimal(body["balances"]["BTC"]["usd"]) > Decimal(10_000)  # 0.5 BTC at ~50k
    assert over_bus.ok and over_bus.balances["BTC"].total == Decimal("0.5")
    assert missing.status_code == 404
    assert key["secret"] not in response.text and key["api_key"] not in response.text


async def test_heartbeats_and_tickers_are_published(redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path, heartbeat_s=0.1, ticker_s=0.1) as gw:
        redis = gw.ctx.bus.redis
        await _until(lambda: redis.xlen(streams.TICKERS))
        await _until(lambda: state.freshest_heartbeat(redis))
        beats = await _until(lambda: _reachable_beats(gw.raw))
        tickers = await _bodies(gw.raw, streams.TICKERS, "Ticker", 1)
        last = await state.last_price(redis, "binanceus", "BTC/USDT")
        last_by_id = await state.last_price(redis, "binanceus", "BTCUSDT")
    assert beats[-1]["instance_id"] == "gateway-test"
    assert beats[-1]["exchanges"] == {"binanceus": True}
    assert 0 < beats[-1]["rtt_ms"] < 1000
    btc = next(t for t in tickers if t["symbol"] == "BTC/USDT")
    assert btc["symbol_id"] == "BTCUSDT" and Decimal(btc["last"]) > 0
    assert last is not None and last_by_id is not None


async def _reachable_beats(raw: aredis.Redis) -> list[dict]:
    """Heartbeats sent after the first exchange contact (earlier ones say not reachable)."""
    beats = await _bodies(raw, streams.HEALTH, "Heartbeat", 1)
    return [b for b in beats if b["exchanges"].get("binanceus") and b["rtt_ms"] is not None]


async def _bodies(raw: aredis.Redis, stream: str, kind: str, at_least: int) -> list[dict]:
    from shared.bus import decode_entry

    bodies = [decode_entry(f) for _, f in await raw.xrange(stream)]
    found = [b for b in bodies if isinstance(b, dict) and b.get("type") == kind]
    return found if len(found) >= at_least else []


async def test_trade_publishes_an_intent_and_returns_the_logged_outcome(
        redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path, reply_timeout_s=5.0) as gw:
        bus = Bus(redis_url, "stand-in-executor")
        seen: list[OrderIntent] = []

        @bus.consume(streams.INTENTS, "executor", OrderIntent)
        async def on_intent(intent: OrderIntent) -> None:  # logs what an executor would
            seen.append(intent)
            await bus.publish(TradeLogged(
                intent_id=intent.intent_id, user_id=intent.user_id, symbol=intent.symbol,
                side=intent.side, amount_usd=intent.amount_usd, mode=Mode.PAPER,
                status="filled", order_id=f"paper-{intent.intent_id}", filled=Decimal("0.00004"),
                cost=Decimal(2), fee=Decimal("0.002"), fee_currency="USDT"), streams.TRADES)

        await bus.start()
        try:
            response = await gw.http.post("/api/trade", json={
                "userId": "ann", "exchange": "binanceus", "side": "buy", "symbol": "BTCUSDT",
                "symbolCcxt": "BTC/USDT", "amountUsd": 2})
        finally:
            await bus.stop()
        orders = await gw.admin.orders()
    assert response.status_code == 200, response.text
    body = response.json()
    [intent] = seen
    assert (intent.symbol, intent.source, intent.amount_usd, intent.side) == (
        "BTC/USDT", "api", Decimal(2), Side.BUY)
    assert body == {"ok": True, "intentId": intent.intent_id, "mode": "PAPER",
                    "status": "filled", "orderId": f"paper-{intent.intent_id}", "reasons": [],
                    "exchange": "binanceus", "symbol": "BTC/USDT", "requestedUsd": "2",
                    "filled": "0.00004", "cost": "2", "fee": "0.002", "feeCurrency": "USDT",
                    "clientOrderId": None,
                    "summary": "asked $2.00, filled 0.00004 BTC for $2.00, fee 0.002 USDT",
                    "correlationId": body["line"]["correlation_id"], "line": body["line"]}
    assert body["line"]["intent_id"] == intent.intent_id and body["line"]["mode"] == "PAPER"
    assert orders == []  # the route never places an order itself


async def test_trade_without_an_outcome_answers_202_pending(redis_url: str,
                                                           tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path, reply_timeout_s=0.3) as gw:
        response = await gw.http.post("/api/trade", json={
            "userId": "ann", "symbol": "BTC/USDT", "amountUsd": "2"})
        intents = await gw.raw.xlen(streams.INTENTS)
    assert response.status_code == 202
    assert response.json()["status"] == "pending" and response.json()["intentId"]
    assert intents == 1


@pytest.mark.parametrize(("payload", "field"), [
    ({"symbol": "BTC/USDT", "amountUsd": 2}, "userId"),
    ({"userId": "ann", "symbol": "BTC/USDT", "amountUsd": -1}, "amountUsd"),
    ({"userId": "ann", "symbol": "BTC/USDT", "amountUsd": "two"}, "amountUsd"),
    ({"userId": "ann", "symbol": "BTC/USDT", "amountUsd": 2, "side": "hold"}, "side"),
    ({"userId": "ann", "amountUsd": 2}, "symbol"),
])
async def test_trade_with_bad_input_is_422_naming_the_field(
        redis_url: str, tmp_path: Path, payload: dict, field: str) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        response = await gw.http.post("/api/trade", json=payload)
        intents = await gw.raw.xlen(streams.INTENTS)
    assert response.status_code == 422
    assert field in [e["loc"][-1] for e in response.json()["detail"]]
    assert intents == 0


async def test_health_turns_503_when_redis_stops_and_200_when_it_returns(
        tmp_path: Path) -> None:
    own = RedisServer(kind="redis-server")  # its own server: stopping it disturbs no one
    own.start()
    try:
        async with running_gateway(own.url, tmp_path, heartbeat_s=0.1) as gw:
            first = await gw.http.get("/api/health", headers={"Authorization": "Bearer wrong"})
            own.stop()
            down = await gw.http.get("/api/health")
            own.start()  # same port, empty data
            back = await _until(lambda: _healthy(gw.http), timeout=10)
            beat_after = await _until(lambda: state.freshest_heartbeat(gw.ctx.bus.redis))
            assert runtime(gw.ctx).loops_alive
    finally:
        own.stop()
    assert first.status_code == 200 and first.json()["services"] == {"gateway": "ok",
                                                                      "redis": "ok"}
    assert down.status_code == 503
    assert down.json()["services"]["redis"].startswith("unreachable")
    assert back.json()["status"] == "ok" and beat_after is not None


async def _healthy(http):
    response = await http.get("/api/health")
    return response if response.status_code == 200 else None
