"""A redelivered order whose lookup cannot prove it absent is never sent again (real Redis,
the gateway in-process, the sandbox over HTTP through ccxt).

A dead replica claimed the marker and read the request, then died; the exchange's lookup by
client order id keeps failing (5xx). The gateway claims the request, cannot prove the order
absent and answers "status unknown … not re-sent", marker ``unknown``: the order endpoint is
never called. A ``done`` marker whose order the exchange does not show is not re-sent either.
"""
from __future__ import annotations

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
from tests.integration.gateway_support import running_gateway

pytestmark = pytest.mark.integration


async def _left_by_a_dead_replica(redis_url: str, req: OrderRequested, marker: dict) -> None:
    raw = aredis.from_url(redis_url)
    try:
        await ensure_group(raw, streams.ORDER_REQUESTS, "gateway")
        await raw.xadd(streams.ORDER_REQUESTS, {"__data__": frame(req)})
        await raw.xreadgroup("gateway", "gw-dead", {streams.ORDER_REQUESTS: ">"}, count=10)
        await state.record_heartbeat(raw, "gw-dead", time.time() - 600)
        await raw.set(marker_key(req.client_order_id), json.dumps(marker))
    finally:
        await raw.aclose()


@pytest.mark.parametrize("left", ["placing", "done"])
async def test_an_order_that_cannot_be_proven_absent_is_unknown_and_never_re_sent(
        redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, left: str) -> None:
    monkeypatch.setenv("PIGGY_CLAIM_IDLE_MS", "4000")  # the user and faults are set up first
    cid = f"cid-unproven-{left}"
    req = OrderRequested(intent_id=f"intent-{cid}", client_order_id=cid, user_id="ada",
                         exchange="binanceus", symbol="BTC/USDT", side=Side.BUY,
                         amount_usd=Decimal(20), live=True, requested_by="test")
    await _left_by_a_dead_replica(redis_url, req, {
        "state": left, "by": "gw-dead", "ts": time.time(),
        "order_id": "1042" if left == "done" else ""})
    async with running_gateway(redis_url, tmp_path, instance_id="gw-live") as gw:
        await gw.add_user("ada")
        if left == "placing":  # the lookup fails; with "done" it answers "no such order"
            await gw.admin.add_fault("GET /api/v3/order", "http5xx", count=1000)
        await gw.admin.add_fault("POST /api/v3/order", "http5xx", count=1000)
        [outcome] = (await gw.wait_outcomes([cid]))[cid]
        marker = json.loads(await gw.ctx.bus.redis.get(marker_key(cid)))
        posts = [f["fired"] for f in await gw.admin.faults() if f["endpoint"].startswith("POST")]
        orders = await gw.admin.orders()
    assert outcome["type"] == "OrderRejected" and outcome["code"] == "status_unknown"
    assert "not re-sent" in outcome["message"], outcome["message"]
    assert marker["state"] == ("unknown" if left == "placing" else "done")
    assert posts == [0] and orders == []  # the order endpoint was never called
