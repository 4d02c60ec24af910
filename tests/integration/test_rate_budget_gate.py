"""The shared budget and nonce as two replicas see them: two unmodified ccxt clients on one key,
each through its own ``ExchangeGate`` on one real Redis, against the sandbox over HTTP.

When the exchange answers one replica 429 + Retry-After, the other replica's next call is
refused before it is sent ("rate budget exhausted"): the sandbox never sees it and bans nobody.
Kraken: two replicas firing private calls at once on one key never send a stale nonce, also
after the nonce counter in Redis was lost."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest
import redis.asyncio as aredis

from sandbox import AsyncSandboxAdmin, SandboxServer
from shared.exchanges import adapter
from shared.exchanges.budget import RateBudgetExhausted, RateBudgetSettings, key_id
from shared.exchanges.gate import ExchangeGate, NonceTurns
from shared.settings import ExchangeSettings
from shared.vault import ApiKeyPair

pytestmark = pytest.mark.integration

ON = RateBudgetSettings(rate_budget="on", rate_budget_max_wait_s=0.5)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(port=0, seed=1) as sb:
        yield sb


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[aredis.Redis]:
    client = aredis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


def _replica(exchange: str, url: str, key: dict[str, Any], redis: aredis.Redis,
             settings: RateBudgetSettings = ON) -> Any:
    where = ExchangeSettings.model_validate({f"{exchange}_url": url})
    client = adapter(exchange).make_client(where, ApiKeyPair(key["api_key"], key["secret"]))
    gate = ExchangeGate(redis, settings, exchange_timeout_ms=3000)
    return gate.attach(client, exchange, key["api_key"], loopback=True)


async def test_a_429_told_to_one_replica_holds_back_the_other_before_it_sends(
        sandbox: SandboxServer, redis: aredis.Redis) -> None:
    admin = AsyncSandboxAdmin(sandbox.url, venue="binanceus")
    await admin.set_price("BTCUSDT", "50000")
    key = await admin.create_key(balances={"USDT": "1000"})
    await admin.set_rate_limits(limits={"ORDERS": 3})  # 3 orders per 10 s for this key
    a = _replica("binanceus", sandbox.url, key, redis)
    b = _replica("binanceus", sandbox.url, key, redis)
    try:
        await a.load_markets()
        b.set_markets_from_exchange(a)
        told = None
        for _ in range(8):  # the product's bucket allows 100/10 s: the sandbox's 3 bite
            try:
                await a.create_market_buy_order_with_cost("BTC/USDT", 2)
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as exc:  # binance: DDoS for 429
                told = exc
                break
        assert told is not None and not isinstance(told, RateBudgetExhausted)
        before = await admin.rate_limits()
        placed = len(await admin.orders(api_key=key["api_key"]))

        with pytest.raises(RateBudgetExhausted, match="rate budget exhausted") as refused:
            await b.create_market_buy_order_with_cost("BTC/USDT", 2)
        assert isinstance(refused.value, ccxt.RateLimitExceeded)  # → rejected, rate_limited
        after = await admin.rate_limits()
        assert after["refused"] == before["refused"]  # never reached the exchange
        assert len(await admin.orders(api_key=key["api_key"])) == placed
        assert after["bans"] == 0
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_two_replicas_on_one_kraken_key_never_send_a_stale_nonce(
        sandbox: SandboxServer, redis: aredis.Redis) -> None:
    admin = AsyncSandboxAdmin(sandbox.url, venue="kraken")
    key = await admin.create_key(balances={"ZUSD": "1000"})
    off = RateBudgetSettings(rate_budget="off")  # only the nonce turns
    a = _replica("kraken", f"{sandbox.url}/kraken", key, redis, off)
    b = _replica("kraken", f"{sandbox.url}/kraken", key, redis, off)
    try:
        calls = [c.fetch_balance() for _ in range(15) for c in (a, b)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        await redis.delete(*NonceTurns.keys("kraken", key_id(key["api_key"]))[1:])  # the counter is lost
        again = await asyncio.gather(a.fetch_balance(), b.fetch_balance(),
                                     return_exceptions=True)
        assert [r for r in again if isinstance(r, BaseException)] == []
        balance = again[0]
        assert isinstance(balance, dict) and Decimal(str(balance["total"]["USD"])) == 1000
    finally:
        await asyncio.gather(a.close(), b.close())

