"""Per exchange: the minimum the product offers, computed from the market data unmodified ccxt
loads from the sandbox, sent to the sandbox at that price over real HTTP (ccxt's own buy by
cost, with the adapter's client order id params), is filled and spends no more than offered.
The spend is the sandbox's ground truth: the account's quote balance before and after."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox import SandboxAdmin, SandboxThread
from sandbox.testing import venue_exchange
from shared.exchanges import adapter
from shared.placement import offer

pytestmark = pytest.mark.integration

VENUES = {"kraken": ("XXBTZUSD", "BTC/USD", "USD"), "binance": ("BTCUSDT", "BTC/USDT", "USDT"),
          "coinbase": ("BTC-USD", "BTC/USD", "USD"), "binanceus": ("BTCUSDT", "BTC/USDT", "USDT")}
FUNDS = Decimal(10_000_000)
prices = st.integers(min_value=10_000, max_value=90_000_000).map(lambda c: Decimal(c) / 100)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(port=0, seed=3) as sb:
        yield sb


def _quote_balance(admin: SandboxAdmin, api_key: str, asset: str) -> Decimal:
    rows = admin.get_key(api_key)["balances"]
    return next((Decimal(r["free"]) + Decimal(r["locked"]) for r in rows if r["asset"] == asset),
                Decimal(0))


@pytest.mark.parametrize("exchange", sorted(VENUES))
def test_the_offered_minimum_is_filled_and_spends_at_most_the_offer(
        sandbox: SandboxThread, exchange: str) -> None:
    symbol_id, symbol, quote = VENUES[exchange]
    admin = SandboxAdmin(sandbox.url, venue=exchange)
    key = admin.create_key(balances={quote: str(FUNDS)})
    client = venue_exchange(exchange, sandbox.url, key, sync=True)
    ex = adapter(exchange)
    client.load_markets()
    market: dict[str, Any] = client.markets[symbol]
    sent: list[tuple[Decimal, Decimal, Decimal]] = []
    balance = [FUNDS]

    @settings(max_examples=20, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(price=prices)
    def buy_the_offer_at(price: Decimal) -> None:
        at = Decimal(admin.set_price(symbol_id, str(price))["price"])  # rounded to the tick
        found, _why = offer(market, at, exchange=exchange, precision_mode=client.precisionMode)
        cid = ex.client_order_id(f"pg-{uuid.uuid4().hex}")
        order = client.create_market_buy_order_with_cost(symbol, float(found.amount),
                                                         ex.buy_params(cid))
        assert order["id"]
        after = _quote_balance(admin, key["api_key"], quote)
        spent = balance.pop() - after
        balance.append(after)
        sent.append((at, found.amount, spent))
        assert Decimal(0) < spent <= found.amount, (at, found.amount, spent)

    buy_the_offer_at()
    orders = admin.orders()
    assert len(orders) == len(sent)  # one order per offer, every one filled
    assert all(o["status"] == "FILLED" for o in orders)
    assert admin.rejections() == []


@pytest.mark.parametrize("exchange", sorted(VENUES))
def test_every_refused_order_request_is_in_the_admin_rejections(
        sandbox: SandboxThread, exchange: str) -> None:
    """Below the minimum, and with a key the venue does not know: both refused by the dialect's
    own words, both listed (kraken's own refusals were missing)."""
    symbol_id, symbol, quote = VENUES[exchange]
    admin = SandboxAdmin(sandbox.url, venue=exchange)
    admin.set_price(symbol_id, "50000")
    key = admin.create_key(balances={quote: "100"})
    before = len(admin.rejections())
    client = venue_exchange(exchange, sandbox.url, key, sync=True)
    client.load_markets()
    ex = adapter(exchange)
    with pytest.raises(ccxt.BaseError):
        client.create_market_buy_order_with_cost(symbol, 0.5, ex.buy_params(
            ex.client_order_id(f"pg-{uuid.uuid4().hex}")))
    admin.delete_key(key["api_key"])
    with pytest.raises(ccxt.BaseError):
        client.create_market_buy_order_with_cost(symbol, 10, ex.buy_params(
            ex.client_order_id(f"pg-{uuid.uuid4().hex}")))
    listed = admin.rejections()[before:]
    assert len(listed) == 2, listed
    assert all(r["api_key"] == key["api_key"] for r in listed)
    assert all(r["code"] and r["msg"] for r in listed)
    if exchange == "kraken":
        assert [r["msg"] for r in listed] == ["EOrder:Order minimum not met", "EAPI:Invalid key"]
    assert admin.orders() == []
