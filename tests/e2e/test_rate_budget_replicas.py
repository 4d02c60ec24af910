"""One exchange rate budget shared by every gateway replica, checked by the exchange itself.

The sandbox enforces the venue's real limits per key and per IP (binance: 100 orders per 10 s
per key, 6,000 weight per minute per IP; 429 with Retry-After, then 418 for an IP that keeps
sending). Four gateway processes take a burst of live intents on one account with the shared
budget on: the sandbox never refuses or bans anyone, no 10 s window ever holds more than 100
orders, and the orders still flow at ≥ 90 % of the limit. Then kraken: three gateways sign
with one key, and Kraken's strictly increasing nonce is never refused.
"""
from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aredis

from bench.harness import LiveStack, live_stack, stream_bodies, trade_lines
from shared import streams
from shared.bus import Bus
from shared.events import OrderIntent
from shared.exchanges import TEST_SYMBOLS

pytestmark = pytest.mark.e2e

BURST = 150  # binance: 15 s at 10 orders/s, so several full 10 s windows
ORDER_LIMIT, ORDER_WINDOW_S = 100, 10.0
# Budget on (the sandbox is loopback: ``auto`` would leave it off); outcomes and claims wait
# long enough for a burst that the budget spreads over seconds; tickers rarely (each binance
# ticker poll weighs 80, ccxt's figure, which would compete with the orders for weight).
ENV = {"PIGGY_RATE_BUDGET": "on", "PIGGY_CLAIM_IDLE_MS": "30000",
       "PIGGY_OUTCOME_TIMEOUT_S": "120", "PIGGY_TICKER_INTERVAL_S": "30"}


async def _burst(live: LiveStack, user: str, exchange: str, n: int, amount: Decimal
                 ) -> list[str]:
    bus = Bus(live.redis_url, "budget-test")
    await bus.broker.connect()
    ids = []
    try:
        for _ in range(n):
            intent = OrderIntent(user_id=user, symbol=TEST_SYMBOLS[exchange], exchange=exchange,
                                 amount_usd=amount, source="budget-test")
            await bus.publish(intent, streams.INTENTS)
            ids.append(intent.intent_id)
    finally:
        await bus.broker.stop()
    return ids


async def _settle(live: LiveStack, ids: list[str], timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    lines: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        lines = [ln for ln in await trade_lines(live.redis_url) if ln["intent_id"] in wanted]
        if len({ln["intent_id"] for ln in lines}) == len(wanted):
            break
        await asyncio.sleep(0.5)
    return lines


async def _order_events(redis_url: str) -> list[dict[str, Any]]:
    r = aredis.from_url(redis_url)
    try:
        return await stream_bodies(r, streams.ORDER_EVENTS)
    finally:
        await r.aclose()


def _max_in_sliding_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_four_gateways_share_one_binance_budget_no_ban_within_the_limit_near_full_speed(
        redis_url: str, tmp_path: Path) -> None:
    with live_stack(tmp_path, redis_url=redis_url, env=ENV) as (live, _took):
        for _ in range(3):
            live.add_replica("gateway", wait=120)
        assert len(live.children("gateway")) == 4
        key = live.fund_and_arm("budget", exchange="binanceus")
        admin = live.admin_for("binanceus")
        admin.set_rate_limits(enabled=True)  # the real limits; counts start now
        ids = asyncio.run(_burst(live, "budget", "binanceus", BURST, Decimal(2)))
        lines = asyncio.run(_settle(live, ids, timeout=120))
        seen = admin.rate_limits()
        orders = admin.orders(api_key=key["api_key"])
        events = asyncio.run(_order_events(live.redis_url))

    refused = [e for e in events if e.get("type") == "OrderRejected"]
    times = seen["order_times"]
    span = max(times) - min(times)
    rate = (len(times) - 1) / span
    report = {"orders": len(orders), "lines": len(lines), "sandbox_refused": seen["refused"],
              "bans": seen["bans"], "peak_orders_10s": _max_in_sliding_window(times,
                                                                              ORDER_WINDOW_S),
              "peak_weight_min": seen["limits"]["REQUEST_WEIGHT"]["peak"],
              "rate_per_s": round(rate, 2), "limit_per_s": ORDER_LIMIT / ORDER_WINDOW_S,
              "share_of_limit": round(rate / (ORDER_LIMIT / ORDER_WINDOW_S), 3),
              "rejected_outcomes": [e.get("message") for e in refused][:3]}
    print(json.dumps(report))
    assert seen["bans"] == 0 and seen["banned_answers"] == 0, report
    assert seen["refused"] == 0, report  # never a 429: the budget held every replica back
    assert refused == [], report  # nothing refused by the budget either: all waited their turn
    assert len(orders) == BURST and len({ln["intent_id"] for ln in lines}) == BURST, report
    assert report["peak_orders_10s"] <= ORDER_LIMIT, report
    assert seen["limits"]["REQUEST_WEIGHT"]["peak"] <= 6000, report
    assert rate >= 0.9 * ORDER_LIMIT / ORDER_WINDOW_S, report


def test_three_gateways_signing_with_one_kraken_key_never_send_a_stale_nonce(
        redis_url: str, tmp_path: Path) -> None:
    n = 60
    env = {"PIGGY_CLAIM_IDLE_MS": "30000", "PIGGY_OUTCOME_TIMEOUT_S": "120"}
    with live_stack(tmp_path, redis_url=redis_url, env=env) as (live, _took):
        for _ in range(2):
            live.add_replica("gateway", wait=120)
        key = live.fund_and_arm("nonce", exchange="kraken")
        ids = asyncio.run(_burst(live, "nonce", "kraken", n, Decimal(6)))
        lines = asyncio.run(_settle(live, ids, timeout=120))
        orders = live.admin_for("kraken").orders(api_key=key["api_key"])
        events = asyncio.run(_order_events(live.redis_url))
        logs = "".join(c.log_tail() for c in live.children("gateway"))

    nonce_errors = [e for e in events if "invalid nonce" in json.dumps(e).lower()]
    rejected = [e.get("message") for e in events if e.get("type") == "OrderRejected"]
    print(json.dumps({"orders": len(orders), "lines": len(lines),
                      "invalid_nonce": len(nonce_errors), "rejected": rejected[:3]}))
    assert nonce_errors == [], nonce_errors[:3]
    assert "Invalid nonce" not in logs
    assert len(orders) == n and len({ln["intent_id"] for ln in lines}) == n
