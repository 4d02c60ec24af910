"""The gateway's order path against real Redis and the sandbox over HTTP through unmodified ccxt.
The sandbox's /admin/orders is the ground truth for what reached the exchange."""
from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from shared import state, streams
from shared.events import RejectCategory
from tests.integration.gateway_support import running_gateway

pytestmark = pytest.mark.integration


async def test_live_two_dollar_buy_by_exchange_id_and_by_unified_symbol_is_placed_once_each(
        redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        await gw.add_user("alice")
        r1 = await gw.request("alice", "BTCUSDT", "2", "cid-by-id")
        r2 = await gw.request("alice", "BTC/USDT", "2", "cid-by-unified")
        got = await gw.wait_outcomes(["cid-by-id", "cid-by-unified"])
        orders = await gw.admin.orders()
    assert sorted(o["clientOrderId"] for o in orders) == ["cid-by-id", "cid-by-unified"]
    for req in (r1, r2):
        [event] = got[req.client_order_id]
        order = next(o for o in orders if o["clientOrderId"] == req.client_order_id)
        assert event["type"] == "OrderPlaced"
        assert event["order_id"] == str(order["orderId"])
        assert (event["symbol"], event["symbol_id"]) == ("BTC/USDT", "BTCUSDT")
        assert (event["intent_id"], event["correlation_id"]) == (req.intent_id, req.correlation_id)
        assert event["status"] == "closed"
        # the exchange truncates the bought quantity to its lot step: cost is at most $2
        assert Decimal(0) < Decimal(event["cost"]) <= Decimal(2)
        assert Decimal(event["cost"]) == Decimal(order["cummulativeQuoteQty"])
        assert order["symbol"] == "BTCUSDT" and order["type"] == "MARKET"
        assert order["origQuoteOrderQty"].rstrip("0").rstrip(".") == "2"


async def test_request_under_the_exchange_minimum_is_rejected_before_any_order_call(
        redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        await gw.add_user("bob")
        await gw.request("bob", "BTC/USD", "2", "cid-small")  # BTCUSD: NOTIONAL min 10
        await gw.request("bob", "BTCUSDT", "0.50", "cid-tiny")  # BTCUSDT: min 1
        got = await gw.wait_outcomes(["cid-small", "cid-tiny"])
        assert await gw.admin.orders() == []
        assert await gw.admin.rejections() == []  # not even refused there: never sent
        metrics = gw.ctx.bus.observer.metrics  # counted as the gateway's refusals, not the exchange's
        assert metrics.refusals.labels("pre_trade")._value.get() == 2
        assert sum(metrics.exchange_errors.labels("binanceus", c.value)._value.get()
                   for c in RejectCategory) == 0
    [small], [tiny] = got["cid-small"], got["cid-tiny"]
    assert small["sent"] is False and tiny["sent"] is False
    assert small["type"] == "OrderRejected" and small["category"] == "invalid_order"
    assert small["message"] == "binanceus's minimum for BTC/USD is $10.00; $2.00 is below it"
    assert (small["symbol"], small["symbol_id"]) == ("BTC/USD", "BTCUSD")
    assert tiny["message"].startswith("binanceus's minimum for BTC/USDT is $1.00; $0.50 is below")


async def test_lost_response_is_resolved_by_lookup_with_exactly_one_order(
        redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path, timeout_ms=400) as gw:
        await gw.add_user("carol")
        await gw.admin.add_fault("POST /api/v3/order", "lost_response", count=1, latency_ms=2000)
        started = time.monotonic()
        await gw.request("carol", "BTC/USDT", "2", "cid-lost")
        [event] = (await gw.wait_outcomes(["cid-lost"]))["cid-lost"]
        took = time.monotonic() - started
        orders = await gw.admin.orders()
        faults = await gw.admin.faults()
    assert faults[0]["fired"] == 1  # the response really was lost
    assert [o["clientOrderId"] for o in orders] == ["cid-lost"]
    assert event["type"] == "OrderPlaced"
    assert event["order_id"] == str(orders[0]["orderId"])
    assert took < 5, took


async def test_unmarked_request_is_refused_without_contacting_the_exchange(
        redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        await gw.add_user("dave")
        await gw.request("dave", "BTC/USDT", "2", "cid-unmarked", live=False)
        [event] = (await gw.wait_outcomes(["cid-unmarked"]))["cid-unmarked"]
        assert await gw.admin.orders() == []
    assert event["type"] == "OrderRejected" and event["category"] == "not_live"


async def test_kill_switch_engaged_refuses_a_live_request(redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        await gw.add_user("erin")
        await state.halt(gw.ctx.bus.redis, "test", "emergency")
        await gw.request("erin", "BTC/USDT", "2", "cid-halted")
        [event] = (await gw.wait_outcomes(["cid-halted"]))["cid-halted"]
        assert await gw.admin.orders() == []
    assert event["category"] == "not_live" and event["code"] == "halted"


async def test_duplicate_request_is_looked_up_and_reported_not_placed_again(
        redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        await gw.add_user("fay")
        await gw.request("fay", "BTC/USDT", "2", "cid-dup")
        await gw.wait_outcomes(["cid-dup"])
        await gw.request("fay", "BTCUSDT", "2", "cid-dup")  # redelivered / re-sent request
        got = (await gw.wait_outcomes(["cid-dup"], count=2))["cid-dup"]
        orders = await gw.admin.orders()
    assert len(orders) == 1
    assert [e["type"] for e in got] == ["OrderPlaced", "OrderPlaced"]
    assert got[0]["order_id"] == got[1]["order_id"] == str(orders[0]["orderId"])


async def test_unknown_symbol_is_rejected_with_close_matches(redis_url: str,
                                                            tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        await gw.add_user("gus")
        await gw.request("gus", "BTCUSDX", "2", "cid-unknown")
        [event] = (await gw.wait_outcomes(["cid-unknown"]))["cid-unknown"]
    assert event["category"] == "invalid_order" and event["code"] == "unknown_symbol"
    assert "BTCUSDT" in event["message"]


async def test_exchange_refusal_is_classified(redis_url: str, tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        await gw.add_user("hal", {"USDT": "1"})
        await gw.request("hal", "BTC/USDT", "2", "cid-poor")
        await gw.wait_outcomes(["cid-poor"])
        await gw.add_user("ray", {"USDT": "100"})  # an order that passes every pre-trade check
        await gw.admin.add_fault("POST /api/v3/order", "rate_limit", count=1)
        await gw.request("ray", "BTC/USDT", "2", "cid-throttled")
        got = await gw.wait_outcomes(["cid-poor", "cid-throttled"])
    assert got["cid-poor"][0]["category"] == "insufficient_funds"
    assert got["cid-throttled"][0]["category"] == "rate_limited"
    assert got["cid-throttled"][0]["code"] == "-1003"


async def test_100_orders_across_5_users_reuse_5_exchange_instances(
        redis_url: str, tmp_path: Path) -> None:
    users = [f"user{i}" for i in range(5)]
    async with running_gateway(redis_url, tmp_path) as gw:
        for u in users:
            await gw.add_user(u)
        cids = [f"cid-many-{n}" for n in range(100)]
        started = time.monotonic()
        for n, cid in enumerate(cids):
            await gw.request(users[n % 5], "BTC/USDT", "2", cid)
        got = await gw.wait_outcomes(cids, timeout=60)
        took = time.monotonic() - started
        orders = await gw.admin.orders()
        created, instances = gw.rt.pool.created, gw.rt.pool.instances
        health = (await gw.http.get("/api/health")).json()
    print(f"\n100 orders through the gateway in {took:.2f}s ({100 / took:.0f}/s)")
    assert all(v[0]["type"] == "OrderPlaced" for v in got.values())
    assert len(orders) == 100 and len({o["clientOrderId"] for o in orders}) == 100
    assert (created, instances) == (5, 5)
    assert health["exchange"]["created"] == 5


async def test_revoked_key_is_an_auth_rejection_and_no_secret_leaks(redis_url: str,
                                                                    tmp_path: Path) -> None:
    async with running_gateway(redis_url, tmp_path) as gw:
        key = await gw.add_user("ivy")
        await gw.admin.set_key(key["api_key"], revoked=True)
        await gw.request("ivy", "BTC/USDT", "2", "cid-revoked")
        [event] = (await gw.wait_outcomes(["cid-revoked"]))["cid-revoked"]
        everything = str(await gw.outcomes()) + str(await gw.outcomes(streams.HEALTH))
        assert await gw.admin.orders() == []
        instances = gw.rt.pool.instances
    assert event["type"] == "OrderRejected" and event["category"] == "auth"
    assert key["secret"] not in everything and key["api_key"] not in everything
    assert instances == 0  # the refused instance is dropped; the vault is read again next time
