"""The executor fills paper by the market rules the gateway keeps next to the price (real
Redis, the real executor in process; the rules from ccxt's kraken market at the sandbox),
and by the exchange's fee schedule when none are kept."""
from __future__ import annotations

from decimal import Decimal

import pytest

from piggy.ops import wait_outcome
from sandbox import SandboxServer
from shared import paperfill, state, streams
from shared.events import OrderIntent
from shared.exchanges import adapter
from shared.settings import ExchangeSettings, ExecutorSettings
from tests.support.inprocess import client_bus, executor

pytestmark = pytest.mark.integration
PRICE = Decimal(50000)


async def test_paper_fills_follow_the_kept_rules_else_the_fee_schedule(redis_url: str) -> None:
    async with SandboxServer(port=0, seed=1) as sb:
        client = adapter("kraken").make_client(ExchangeSettings(kraken_url=f"{sb.url}/kraken"),
                                               None)
        try:
            await client.load_markets()
            rules = paperfill.MarketRules.from_ccxt("kraken", client.market("BTC/USD"),
                                                    client.precisionMode)
        finally:
            await client.close()
    settings = ExecutorSettings()
    async with executor(redis_url, settings), client_bus(redis_url) as bus:
        await state.set_market_rules(bus.redis, "kraken", "BTC/USD", rules.to_json())
        lines = {}
        for exchange in ("kraken", "coinbase"):
            await state.set_last_price(bus.redis, exchange, "BTC/USD", PRICE)
            intent = OrderIntent(user_id="alice", exchange=exchange, symbol="BTC/USD",
                                 amount_usd=Decimal(10), source="test")
            await bus.publish(intent, streams.INTENTS)
            lines[exchange] = await wait_outcome(bus, intent.intent_id, 10)
    kraken, coinbase = lines["kraken"], lines["coinbase"]
    assert kraken is not None and coinbase is not None
    expected = paperfill.fill(rules, "buy", Decimal(10), PRICE, min_usd=settings.min_trade_usd,
                              max_usd=settings.max_trade_usd)
    assert (kraken.filled, kraken.cost, kraken.fee, kraken.fee_currency) == (
        expected.filled, expected.cost, expected.fee, "USD")
    assert kraken.cost + kraken.fee <= 10  # kraken's fee comes out of the amount, in USD
    # no rules kept for coinbase: its schedule, 0.6 % in USD out of the amount
    assert coinbase.fee_currency == "USD" and coinbase.cost + coinbase.fee <= 10
    assert coinbase.fee == (coinbase.cost * Decimal("0.006")).quantize(Decimal("1e-8"))
