"""Paper fills by each exchange's rules (shared/paperfill.py), checked against the sandbox's
own matching core for the same LIVE order — in process, no I/O. The same comparison over
HTTP through ccxt is tests/integration/test_paper_predicts_live.py."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from sandbox.auth import ApiKey
from sandbox.market import MarketSpec, PriceFeed
from sandbox.matching import Engine
from sandbox.rules import market_request
from sandbox.venues import venue
from shared import paperfill

pytestmark = pytest.mark.unit

SYMBOLS = {"binanceus": "BTCUSDT", "kraken": "XXBTZUSD", "coinbase": "BTC-USD"}
PRICE = D("50000")


def _rules(name: str, spec: MarketSpec) -> paperfill.MarketRules:
    """The rules as ccxt's market gives them: lot step, taker rate, fee side."""
    v = venue(name)
    return paperfill.MarketRules(name, {
        "symbol": f"{spec.base}/{spec.quote}", "base": spec.base, "quote": spec.quote,
        "precision": {"amount": str(spec.step)}, "limits": {}, "taker": str(v.fee_rate),
        "feeSide": "quote" if v.fee_in_quote else "get"})


def _live(name: str, side: str, amount: D) -> tuple[MarketSpec, D, D, D, str]:
    """What the sandbox's engine charges for the order the product sends for ``amount``."""
    v = venue(name)
    fixture = v.fixture()
    spec = fixture.markets[SYMBOLS[name]]
    feed = PriceFeed(fixture, 1)
    feed.pin(spec.symbol, PRICE)
    engine = Engine(fixture, feed, lambda: 0, fee_rate=v.fee_rate, fee_in_quote=v.fee_in_quote)
    account = engine.open_account({spec.quote: D(1000), spec.base: D(1)})
    key = ApiKey("k", "s", account.account_id)
    qty = spec.floor_qty(amount / PRICE)
    if name == "binanceus":
        params = ({"quoteOrderQty": str(amount)} if side == "buy"
                  else {"quantity": format(qty, "f")})
        order = engine.place(key, {"symbol": spec.symbol, "side": side.upper(),
                                   "type": "MARKET", **params})
    else:
        req = (market_request(spec, "BUY", PRICE, quote=amount, quote_fee_rate=v.fee_rate)
               if side == "buy" else market_request(spec, "SELL", PRICE, qty=qty))
        order = engine.place_request(key, req, {})
    (f,) = order.fills
    return spec, f.qty, (f.price * f.qty).quantize(D("0.00000001")), f.commission, f.commission_asset


@pytest.mark.parametrize("name", sorted(SYMBOLS))
@pytest.mark.parametrize(("side", "amount"), [("buy", "25"), ("buy", "7.77"), ("sell", "12")])
def test_paper_fill_equals_what_the_sandbox_charges_live(name: str, side: str,
                                                         amount: str) -> None:
    spec, filled, cost, fee, fee_asset = _live(name, side, D(amount))
    paper = paperfill.fill(_rules(name, spec), side, D(amount), PRICE)
    assert (paper.filled, paper.cost, paper.fee, paper.fee_currency) == (
        filled, cost, fee, fee_asset)


def test_coinbase_paper_buy_pays_its_fee_in_usd_out_of_the_amount() -> None:
    spec, *_ = _live("coinbase", "buy", D(2))
    paper = paperfill.fill(_rules("coinbase", spec), "buy", D(2), PRICE)
    assert (paper.filled, paper.cost, paper.fee, paper.fee_currency) == (
        D("0.00003976"), D("1.988"), D("0.011928"), "USD")
    assert paper.cost + paper.fee <= 2


def test_binance_paper_buy_pays_its_fee_in_btc() -> None:
    spec, *_ = _live("binanceus", "buy", D(25))
    paper = paperfill.fill(_rules("binanceus", spec), "buy", D(25), PRICE)
    assert paper.fee_currency == "BTC" and paper.fee == (paper.filled * D("0.001")).quantize(
        D("0.00000001"))


def test_without_market_data_the_exchange_s_schedule_is_used() -> None:
    rules = paperfill.default_rules("kraken", "BTC/USD")
    assert paperfill.MarketRules.from_json(rules.to_json()) == rules
    paper = paperfill.fill(rules, "buy", D(10), PRICE)
    assert paper.fee_currency == "USD" and paper.cost + paper.fee <= 10
    assert paper.fee == (paper.cost * D("0.0026")).quantize(D("0.00000001"))
