"""The offered minimum (``shared.minimums``) against the sandbox's own order rules
(``sandbox.rules.market_request`` / ``parse_order``), over prices, fees and steps drawn around
ccxt's recorded market data: every offer is accepted at every price up to the headroom and
spends no more than offered. Pure: no I/O (the HTTP version is
``tests/integration/test_minimum_offer_sandbox.py``)."""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.dialects.coinbase_markets import coinbase_fixture
from sandbox.dialects.kraken_markets import kraken_fixture
from sandbox.errors import BinanceError
from sandbox.market import FIXTURE, MarketSpec, load_fixture
from sandbox.rules import market_request, parse_order
from sandbox.venues import BINANCE_FIXTURE
from shared.minimums import HEADROOM, BuyRule, minimum_offer, rule_for
from shared.placement import plan_order
from tests.support.ccxt_static import recorded_market

pytestmark = pytest.mark.unit

# the sandbox's market of each exchange, and the ccxt market as recorded by ccxt's fixtures
SPECS: dict[str, MarketSpec] = {
    "kraken": kraken_fixture().markets["XXBTZUSD"],
    "coinbase": coinbase_fixture().markets["BTC-USD"],
    "binance": load_fixture(BINANCE_FIXTURE).markets["BTCUSDT"],
    "binanceus": load_fixture(FIXTURE).markets["BTCUSDT"],
}
RECORDED = {"kraken": ("kraken", "BTC/USD"), "coinbase": ("coinbase", "BTC/USD"),
            "binance": ("binance", "BTC/USDT"), "binanceus": ("binance", "BTC/USDT")}
TAKER = {"kraken": Decimal("0.0026"), "coinbase": Decimal("0.006"), "binance": Decimal("0.001"),
         "binanceus": Decimal("0.001")}
prices = st.integers(min_value=10_000, max_value=90_000_000).map(lambda c: Decimal(c) / 100)
fees = st.integers(min_value=0, max_value=150).map(lambda bp: Decimal(bp) / 10_000)


def ccxt_market(exchange: str, spec: MarketSpec, fee: Decimal) -> dict[str, Any]:
    """The recorded ccxt market with the sandbox's minimums (the recorded kraken entry has no
    costmin) and ``fee`` as its taker rate."""
    recorded = recorded_market(*RECORDED[exchange])
    return {**recorded, "taker": float(fee),
            "precision": {"amount": float(spec.step), "price": float(spec.tick)},
            "limits": {**recorded["limits"], "amount": {"min": float(spec.min_qty)},
                       "cost": {"min": float(spec.min_notional)}}}


def sandbox_accepts(exchange: str, spec: MarketSpec, amount: Decimal, price: Decimal,
                    fee: Decimal) -> Decimal:
    """The sandbox's answer to a quote-sized buy of ``amount`` sent as ccxt sends it (truncated
    to the price step): what it spends (quantity × price, plus the fee where it is paid from the
    amount); raises ``BinanceError`` when it refuses."""
    sent = (amount / spec.tick).to_integral_value(rounding="ROUND_DOWN") * spec.tick
    if exchange.startswith("binance"):
        req = parse_order({"symbol": spec.symbol, "side": "BUY", "type": "MARKET",
                           "quoteOrderQty": f"{sent:f}"}, {spec.symbol: spec},
                          {spec.symbol: price})
        return req.qty * price
    req = market_request(spec, "BUY", price, quote=sent, quote_fee_rate=fee)
    return req.qty * price * (1 + fee)


@pytest.mark.parametrize("exchange", sorted(SPECS))
@settings(max_examples=150, deadline=None)
@given(price=prices, fee=fees, rise=st.integers(min_value=0, max_value=100))
def test_the_offer_is_accepted_up_to_the_headroom_and_spends_at_most_itself(
        exchange: str, price: Decimal, fee: Decimal, rise: int) -> None:
    spec = SPECS[exchange]
    market = ccxt_market(exchange, spec, fee)
    offer = minimum_offer(rule_for(exchange, market), price)
    at = (price * (1 + HEADROOM * rise / 100)).quantize(Decimal("0.01"))
    spent = sandbox_accepts(exchange, spec, offer.amount, at, fee)
    assert 0 < spent <= offer.amount
    plan = plan_order(market, "buy", offer.amount, at, exchange=exchange)
    assert plan.ok and plan.kind == "cost" and plan.cost == offer.amount


@pytest.mark.parametrize("exchange", sorted(SPECS))
@settings(max_examples=80, deadline=None)
@given(price=prices, steps=st.sampled_from([Decimal("1e-8"), Decimal("1e-6"), Decimal("1e-5")]),
       min_qty=st.sampled_from([Decimal(0), Decimal("1e-5"), Decimal("1e-4"), Decimal("0.001")]),
       min_cost=st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(1), Decimal(5), Decimal(10)]),
       fee=fees)
def test_the_rule_and_the_sandbox_agree_on_other_steps_and_minimums(
        exchange: str, price: Decimal, steps: Decimal, min_qty: Decimal, min_cost: Decimal,
        fee: Decimal) -> None:
    spec = replace(SPECS[exchange], step=steps, min_qty=min_qty, min_notional=min_cost)
    rule = rule_for(exchange, ccxt_market(exchange, spec, fee))
    offer = minimum_offer(rule, price)
    assert sandbox_accepts(exchange, spec, offer.amount, price, fee) <= offer.amount
    below = offer.amount - rule.cost_step  # the rule's verdict on a smaller amount is the sandbox's
    if below > 0:
        try:
            sandbox_accepts(exchange, spec, below, price, fee)
            accepted = True
        except BinanceError:
            accepted = False
        assert accepted == (not rule.refusal(below, price))


def test_the_issue_cases() -> None:
    """kraken at $50,000 offered $5.00 (refused: 0.0000997 BTC < ordermin); binance at $49,933
    offered "$5.00" and spent $5.49."""
    kraken = rule_for("kraken", ccxt_market("kraken", SPECS["kraken"], TAKER["kraken"]))
    assert kraken.refusal(Decimal("5.00"), Decimal(50000)) == "quantity"
    assert minimum_offer(kraken, Decimal(50000)).amount == Decimal("5.10")
    binance = rule_for("binance", ccxt_market("binance", SPECS["binance"], TAKER["binance"]))
    offer = minimum_offer(binance, Decimal(49933))
    assert binance.spend(offer.amount, Decimal(49933)) <= offer.amount == Decimal("5.51")


def test_a_rule_without_steps_or_minimums_still_offers_a_cent() -> None:
    rule = BuyRule(Decimal("0.01"), None, Decimal(0), Decimal(0), Decimal(0), False)
    assert minimum_offer(rule, Decimal(100)).amount == Decimal("0.01")
