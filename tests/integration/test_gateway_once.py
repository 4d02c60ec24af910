"""The gateway's one-call admission and one-MULTI settlement against real Redis and the
sandbox: a halted kill switch claims nothing and asks the exchange nothing; a refusal before
sending is answered the same on a redelivery (claimed from a dead replica) and on a duplicate,
never placed; a revoked key drops the cached exchange client (the vault is read again)."""
from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aredis

from shared import state, streams
from shared.bus import ensure_group, frame
from shared.cids import key as marker_key
from shared.events import OrderRequested, Side
from tests.integration.gateway_support import Gateway, running_gateway

pytestmark = pytest.mark.integration


async def _wait(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def _priced(gw: Gateway) -> None:
    async def has_price() -> bool:
        return await state.last_price(gw.ctx.bus.redis, "binanceus", "BTC/USDT") is not None
    await _wait(has_price)


async def test_halted_kill_switch_refuses_without_a_marker_and_without_an_exchange_call(
        redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path, ticker_s=3600) as gw:
        await gw.add_user("kim")
        await _priced(gw)  # the one ticker round is done; no loop asks the exchange now
        await gw.admin.add_fault("*", "http5xx", count=1000)
        await state.halt(gw.ctx.bus.redis, "test", "emergency")
        await gw.request("kim", "BTC/USDT", "2", "cid-halted-once")
        [event] = (await gw.wait_outcomes(["cid-halted-once"]))["cid-halted-once"]
        fired = [f["fired"] for f in await gw.admin.faults()]
        marker = await gw.ctx.bus.redis.exists(marker_key("cid-halted-once"))
        pending = await gw.ctx.bus.redis.xpending(streams.ORDER_REQUESTS, "gateway")
    assert event["type"] == "OrderRejected" and event["code"] == "halted"
    assert fired == [0]  # not one request reached the exchange
    assert marker == 0
    assert pending["pending"] == 0  # acked with the refusal


async def test_refusal_before_sending_is_the_same_on_redelivery_and_duplicate_never_placed(
        redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dead replica claimed the marker and read the request, then died: the request is
    claimed from its pending list, its marker taken over (its heartbeat is old), the plan
    refused (under the exchange's minimum) and the refusal published with the marker; a
    duplicate then gets the very same refusal without asking the exchange."""
    monkeypatch.setenv("PIGGY_CLAIM_IDLE_MS", "1500")
    cid = "cid-refused-once"
    req = OrderRequested(intent_id=f"intent-{cid}", client_order_id=cid, user_id="lee",
                         exchange="binanceus", symbol="BTC/USD", side=Side.BUY,
                         amount_usd=Decimal(2), live=True, requested_by="test")  # min is $10
    before = aredis.from_url(redis_url)  # raw: the entry read back is a binary frame
    try:
        await ensure_group(before, streams.ORDER_REQUESTS, "gateway")
        await before.xadd(streams.ORDER_REQUESTS, {"__data__": frame(req)})
        await before.xreadgroup("gateway", "gw-dead", {streams.ORDER_REQUESTS: ">"}, count=10)
        await state.record_heartbeat(before, "gw-dead", time.time() - 600)
        await before.set(marker_key(cid), json.dumps({"state": "placing", "by": "gw-dead",
                                                      "ts": time.time(), "order_id": ""}))
    finally:
        await before.aclose()
    async with running_gateway(redis_url, tmp_path, instance_id="gw-live") as gw:
        redis = gw.ctx.bus.redis
        await gw.add_user("lee")  # well before the request is claimable
        [first] = (await gw.wait_outcomes([cid]))[cid]
        marker = json.loads(await redis.get(marker_key(cid)))
        await gw.admin.add_fault("POST /api/v3/order", "http5xx", count=1000)
        await gw.admin.add_fault("GET /api/v3/order", "http5xx", count=1000)
        await gw.ctx.bus.publish(req, streams.ORDER_REQUESTS)  # a duplicate
        both = (await gw.wait_outcomes([cid], count=2))[cid]
        fired = [f["fired"] for f in await gw.admin.faults()]
        orders = await gw.admin.orders()
        pending = await redis.xpending(streams.ORDER_REQUESTS, "gateway")
    assert first["type"] == "OrderRejected" and first["code"] == "pre_trade"
    assert first["message"] == "binanceus's minimum for BTC/USD is $10.00; $2.00 is below it"
    assert (marker["state"], marker["by"], marker["refused"]["code"]) == (
        "rejected", "gw-live", "pre_trade")
    assert [{k: e[k] for k in ("type", "category", "code", "message", "symbol", "symbol_id")}
            for e in both] == [{k: first[k] for k in ("type", "category", "code", "message",
                                                        "symbol", "symbol_id")}] * 2
    assert orders == [] and fired == [0, 0]
    assert pending["pending"] == 0


async def test_revoked_credentials_drop_the_cached_client_and_the_next_order_is_refused(
        redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        await gw.add_user("mia")
        await gw.request("mia", "BTC/USDT", "2", "cid-before-revoke")
        [placed] = (await gw.wait_outcomes(["cid-before-revoke"]))["cid-before-revoke"]
        assert placed["type"] == "OrderPlaced" and gw.rt.pool.instances == 1
        deleted = await gw.http.delete("/api/credentials/mia")
        assert deleted.status_code == 200

        async def evicted() -> bool:
            return gw.rt.pool.instances == 0
        await _wait(evicted)
        await gw.request("mia", "BTC/USDT", "2", "cid-after-revoke")
        [refused] = (await gw.wait_outcomes(["cid-after-revoke"]))["cid-after-revoke"]
        orders = await gw.admin.orders()
    assert refused["type"] == "OrderRejected" and refused["code"] == "no_credentials"
    assert [o["clientOrderId"] for o in orders] == ["cid-before-revoke"]


async def test_new_keys_replace_the_cached_client(redis_url: str, tmp_path: Path) -> None:
    """Keys submitted again (the old ones deleted at the exchange): the next order uses the
    new keys, read from the vault again."""
    async with running_gateway(redis_url, tmp_path) as gw:
        old = await gw.add_user("ned")
        await gw.request("ned", "BTC/USDT", "2", "cid-old-key")
        await gw.wait_outcomes(["cid-old-key"])
        created = gw.rt.pool.created
        new = await gw.admin.create_key(balances={"USDT": "100"})
        posted = await gw.http.post("/api/credentials", json={
            "userId": "ned", "exchange": "binanceus", "apiKey": new["api_key"],
            "apiSecret": new["secret"]})
        await gw.admin.delete_key(old["api_key"])

        async def evicted() -> bool:
            return gw.rt.pool.instances == 0
        await _wait(evicted)
        await gw.request("ned", "BTC/USDT", "2", "cid-new-key")
        [event] = (await gw.wait_outcomes(["cid-new-key"]))["cid-new-key"]
        by_new = await gw.admin.orders(api_key=new["api_key"])
    assert posted.status_code in (200, 202)
    assert event["type"] == "OrderPlaced"
    assert gw.rt.pool.created == created + 1
    assert [o["clientOrderId"] for o in by_new] == ["cid-new-key"]
