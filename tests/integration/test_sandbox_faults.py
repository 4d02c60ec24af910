"""Injected faults surface in ccxt (sync and async) as a real exchange's failures would."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import ccxt
import pytest

from sandbox import AsyncSandboxAdmin, SandboxAdmin, SandboxServer, SandboxThread
from sandbox.testing import binanceus

pytestmark = pytest.mark.integration

TIMEOUT_MS = 300
ORDER = "POST /api/v3/order"
# (fault spec, async exception, sync exception, orders that exist afterwards)
CASES: dict[str, tuple[dict[str, Any], type[Exception], type[Exception], int]] = {
    "503_plain": ({"kind": "http5xx"}, ccxt.ExchangeNotAvailable, ccxt.ExchangeNotAvailable, 0),
    "500_plain": ({"kind": "http5xx", "status": 500}, ccxt.ExchangeNotAvailable,
                  ccxt.ExchangeNotAvailable, 0),
    "503_json_-1001": ({"kind": "http5xx", "json": True}, ccxt.OperationFailed,
                       ccxt.OperationFailed, 0),
    "429_-1003": ({"kind": "rate_limit"}, ccxt.DDoSProtection, ccxt.DDoSProtection, 0),
    "418_ban": ({"kind": "rate_limit", "status": 418}, ccxt.DDoSProtection,
                ccxt.DDoSProtection, 0),
    "drop": ({"kind": "drop"}, ccxt.ExchangeNotAvailable, ccxt.NetworkError, 0),
    "lost_response": ({"kind": "lost_response"}, ccxt.RequestTimeout, ccxt.RequestTimeout, 1),
    "lost_response_closed": ({"kind": "lost_response", "latency_ms": 0},
                             ccxt.ExchangeNotAvailable, ccxt.NetworkError, 1),
}


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(port=0, seed=3) as sb:
        yield sb


async def _setup(sb: SandboxServer) -> tuple[AsyncSandboxAdmin, Any]:
    admin = AsyncSandboxAdmin(sb.url)
    key = await admin.create_key(balances={"USDT": "100"})
    ex = binanceus(sb.url, key, timeout=TIMEOUT_MS)
    await ex.load_markets()
    return admin, ex


@pytest.mark.parametrize("case", list(CASES))
async def test_fault_on_create_order_async(sandbox: SandboxServer, case: str) -> None:
    spec, expected, _, orders = CASES[case]
    admin, ex = await _setup(sandbox)
    try:
        await admin.add_fault(ORDER, count=1, **spec)
        with pytest.raises(expected):
            await ex.create_market_buy_order_with_cost("BTC/USDT", 2)
        assert len(await admin.orders()) == orders  # exactly one order iff it took effect
        await ex.create_market_buy_order_with_cost("BTC/USDT", 2)  # count=1: next one works
        assert len(await admin.orders()) == orders + 1
    finally:
        await ex.close()


async def test_latency_beyond_timeout_is_request_timeout_but_the_order_lands(
        sandbox: SandboxServer) -> None:
    admin, ex = await _setup(sandbox)
    try:
        await admin.add_fault(ORDER, "latency", count=1, latency_ms=TIMEOUT_MS + 200)
        with pytest.raises(ccxt.RequestTimeout):
            await ex.create_market_buy_order_with_cost("BTC/USDT", 2)
        await asyncio.sleep(0.4)
        assert len(await admin.orders()) == 1  # the slow exchange executed it anyway
    finally:
        await ex.close()


async def test_latency_within_timeout_only_slows_the_call(sandbox: SandboxServer) -> None:
    admin, ex = await _setup(sandbox)
    try:
        await admin.add_fault("GET /api/v3/ticker/24hr", "latency", latency_ms=100)
        start = time.perf_counter()
        assert (await ex.fetch_ticker("BTC/USDT"))["last"] > 0
        assert time.perf_counter() - start >= 0.1
    finally:
        await ex.close()


async def test_probabilistic_faults_are_reproducible_for_a_seed(sandbox: SandboxServer) -> None:
    admin, ex = await _setup(sandbox)

    async def pattern() -> list[bool]:
        await admin.clear_faults()
        await admin.add_fault("/api/v3/ticker/24hr", "http5xx", probability=0.5, seed=11)
        seen = []
        for _ in range(12):
            try:
                await ex.fetch_ticker("BTC/USDT")
                seen.append(False)
            except ccxt.ExchangeNotAvailable:
                seen.append(True)
        return seen
    try:
        first = await pattern()
        assert first == await pattern()
        assert any(first) and not all(first)
        assert (await admin.faults())[0]["fired"] == sum(first)
    finally:
        await ex.close()


@pytest.fixture
def threaded() -> Iterator[SandboxThread]:
    with SandboxThread(port=0, seed=4) as sb:
        yield sb


@pytest.mark.parametrize("case", ["503_plain", "429_-1003", "drop", "lost_response"])
def test_fault_on_create_order_sync(threaded: SandboxThread, case: str) -> None:
    spec, _, expected, orders = CASES[case]
    admin = SandboxAdmin(threaded.url)
    ex = binanceus(threaded.url, admin.create_key(balances={"USDT": "100"}), sync=True,
                   timeout=TIMEOUT_MS)
    ex.load_markets()
    admin.add_fault(ORDER, count=1, **spec)
    with pytest.raises(expected):
        ex.create_market_buy_order_with_cost("BTC/USDT", 2)
    assert len(admin.orders()) == orders
