"""An order whose client-order-id marker was lost (a Redis failover took it with the ack of its
request) is found at the exchange by client order id and reported, never sent again.

Real Redis, the gateway app and the sandbox over HTTP through unmodified ccxt. The loss is
made the way a failover makes it: the marker key is gone and the consumer group's last
delivered id is back before the request, so the gateway reads it again as a new entry."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared import orderflow, streams
from shared.cids import key as marker_key
from tests.integration.gateway_support import running_gateway

pytestmark = pytest.mark.integration


async def test_a_request_read_again_without_its_marker_is_looked_up_not_placed_twice(
        redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orderflow, "MAYBE_SENT_AFTER_S", 0.3)  # "old": read 0.3 s after written
    async with running_gateway(redis_url, tmp_path) as gw:
        await gw.add_user("gil")
        await gw.request("gil", "BTC/USDT", "2", "cid-lost")
        [first] = (await gw.wait_outcomes(["cid-lost"]))["cid-lost"]
        await asyncio.sleep(0.5)
        # what the new primary looks like after a failover that lost the last writes
        await gw.raw.delete(marker_key("cid-lost"))
        await gw.raw.xgroup_setid(streams.ORDER_REQUESTS, "gateway", id="0")
        got = (await gw.wait_outcomes(["cid-lost"], count=2))["cid-lost"]
        orders = await gw.admin.orders()
        refused = await gw.admin.rejections()  # a second send would be refused as duplicate
        marker = await gw.raw.get(marker_key("cid-lost"))
    assert len(orders) == 1, orders
    assert refused == [], refused  # not even attempted: looked up first
    assert [e["type"] for e in got] == ["OrderPlaced", "OrderPlaced"]
    assert first["order_id"] == got[1]["order_id"] == str(orders[0]["orderId"])
    assert marker is not None and b'"done"' in marker  # written back, with the order id
