"""Positions and PnL (shared/books/positions.py): worked examples a user can check by hand,
and properties that must hold for any journal."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.books.positions import METHOD, Entry, compute, history

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def entry(side: str, quantity: str, cost: str, fee: str = "0", fee_currency: str = "",
          *, minutes: int = 0, exchange: str = "coinbase", mode: str = "LIVE",
          base: str = "BTC", quote: str = "USD", ref: str = "") -> Entry:
    return Entry(T0 + timedelta(minutes=minutes), "alice", exchange, base, quote, side, mode,
                 D(quantity), D(cost), D(fee), fee_currency, ref=ref)


def test_live_coinbase_buy_with_the_fee_in_usd_adds_the_fee_to_the_cost() -> None:
    # The LIVE $2 test buy at the sandbox's coinbase: 0.00003976 BTC for $1.988 + $0.011928.
    books = compute([entry("buy", "0.00003976", "1.988", "0.011928", "USD")],
                    {("coinbase", "BTC", "USD"): D("50000")})
    (p,) = books.positions
    assert (p.quantity, p.cost_basis, p.invested) == (D("0.00003976"), D("1.999928"),
                                                      D("1.999928"))
    assert p.value == D("1.98800000") and p.unrealized_pnl == D("1.988") - D("1.999928")
    assert p.average_price == D("1.999928") / D("0.00003976")
    assert p.realized_pnl == 0 and p.method == METHOD == "FIFO" and p.flags == ()


def test_a_fee_in_btc_is_subtracted_from_the_quantity_held() -> None:
    # binance-style (and the coinbase/kraken paper fills before paper followed the exchange):
    # 0.00004 BTC bought, 0.00000004 BTC kept by the exchange as its fee.
    books = compute([entry("buy", "0.00004", "2.0010", "0.00000004", "BTC", exchange="binanceus",
                           quote="USDT", mode="PAPER")])
    (p,) = books.positions
    assert p.quantity == D("0.00003996")
    assert p.cost_basis == D("2.0010") and p.fees == {"BTC": D("0.00000004")}
    assert p.value is None and p.unrealized_pnl is None  # no price given: unknown, not 0
    assert p.mode == "PAPER"


def test_partial_sells_consume_the_oldest_lots_first() -> None:
    books = compute([
        entry("buy", "1", "100", "1", "USD", minutes=0),     # lot A: 1 BTC for 101
        entry("buy", "2", "300", "3", "USD", minutes=1),     # lot B: 2 BTC for 303
        entry("sell", "1.5", "300", "3", "USD", minutes=2),  # all of A and a quarter of B
    ], {("coinbase", "BTC", "USD"): D("200")})
    (p,) = books.positions
    (sale,) = books.sales
    assert sale.cost_basis == D("101") + D("303") / 4
    assert sale.proceeds == D("297") and sale.gain == D("297") - D("176.75")
    assert sale.lots_opened == (T0, T0 + timedelta(minutes=1))
    assert p.quantity == D("1.5") and p.cost_basis == D("227.25")
    assert p.realized_pnl == sale.gain
    assert p.unrealized_pnl == D("300") - D("227.25")
    a, b = books.lots
    assert (a.remaining, a.remaining_cost) == (D(0), D(0))
    assert (b.remaining, b.remaining_cost) == (D("1.5"), D("227.25"))


def test_a_fee_in_a_third_currency_is_not_converted_and_is_flagged() -> None:
    books = compute([entry("buy", "0.001", "50", "0.0001", "BNB", exchange="binance",
                           quote="USDT")])
    (p,) = books.positions
    assert p.quantity == D("0.001") and p.cost_basis == D("50")
    assert p.other_fees == {"BNB": D("0.0001")}
    assert any("BNB" in f and "not converted" in f for f in p.flags)


def test_selling_more_than_held_is_matched_as_far_as_it_goes_and_flagged() -> None:
    books = compute([entry("buy", "1", "100"), entry("sell", "3", "600", minutes=1)])
    (sale,) = books.sales
    assert sale.unmatched == 2 and sale.quantity == 1 and sale.cost_basis == 100
    assert books.positions[0].quantity == 0
    assert any("more than the journal held" in f for f in books.positions[0].flags)


def test_live_and_paper_and_quote_currencies_are_separate_positions() -> None:
    books = compute([entry("buy", "1", "100"), entry("buy", "1", "90", mode="PAPER"),
                     entry("buy", "1", "95", quote="USDT")])
    keys = {(p.mode, p.quote): p.cost_basis for p in books.positions}
    assert keys == {("LIVE", "USD"): 100, ("PAPER", "USD"): 90, ("LIVE", "USDT"): 95}


def test_history_tracks_value_against_money_put_in() -> None:
    points = history([entry("buy", "1", "100", "1", "USD"),
                      entry("buy", "1", "120", minutes=60)],
                     now=T0 + timedelta(days=1), last_prices={("coinbase", "BTC", "USD"): D("90")})
    assert [(p.value, p.invested) for p in points] == [
        (D("100"), D("101")), (D("240"), D("221")), (D("180"), D("221"))]


@pytest.mark.parametrize(("bad", "why"), [
    (entry("hold", "1", "1", ref="ord-9"), "buy or sell"),
    (entry("buy", "0.001", "50", "0.002", "BTC", ref="ord-9"), "more than the 0.001 bought"),
    (entry("buy", "-1", "50", ref="ord-9"), "negative"),
])
def test_a_bad_entry_is_refused_with_its_reference(bad: Entry, why: str) -> None:
    with pytest.raises(ValueError, match="ord-9") as caught:
        compute([bad])
    assert why in str(caught.value)


# ---- properties -------------------------------------------------------------------------

amounts = st.decimals(min_value=D("0.00000001"), max_value=D("1000"), places=8)
fills = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), amounts, amounts,
                           st.decimals(min_value=D(0), max_value=D("0.01"), places=8),
                           st.sampled_from(["USD", "BTC", ""])), min_size=1, max_size=25)


def _journal(rows: list[tuple[str, D, D, D, str]]) -> list[Entry]:
    """Fills as entries; a fee in BTC is at most what was traded, as at an exchange."""
    return [entry(side, str(q), str(c), str(min(f, q) if cur == "BTC" else f), cur, minutes=i)
            for i, (side, q, c, f, cur) in enumerate(rows)]


@settings(max_examples=60, deadline=None)
@given(fills)
def test_quantity_is_conserved(rows: list[tuple[str, D, D, D, str]]) -> None:
    books = compute(_journal(rows))
    received = sum((lot.quantity for lot in books.lots), D(0))
    taken = sum((s.quantity for s in books.sales), D(0))
    assert books.positions[0].quantity == received - taken >= 0
    # the cost basis is conserved too: what lots cost = what is held + what sales used
    assert sum((lot.cost for lot in books.lots), D(0)) == (
        books.positions[0].cost_basis + sum((s.cost_basis for s in books.sales), D(0)))


@settings(max_examples=40, deadline=None)
@given(fills)
def test_buys_only_realize_nothing(rows: list[tuple[str, D, D, D, str]]) -> None:
    books = compute(_journal([("buy", *rest) for _, *rest in rows]))  # type: ignore[misc]
    assert books.positions[0].realized_pnl == 0 and books.sales == ()


@settings(max_examples=40, deadline=None)
@given(fills)
def test_selling_everything_leaves_nothing(rows: list[tuple[str, D, D, D, str]]) -> None:
    journal = _journal([("buy", *rest) for _, *rest in rows])  # type: ignore[misc]
    held = compute(journal).positions[0].quantity
    journal.append(entry("sell", str(held), "1", minutes=len(journal)))
    books = compute(journal)
    p = books.positions[0]
    # a buy whose whole quantity went to the fee keeps its cost: money spent for nothing
    spent_for_nothing = sum((lot.cost for lot in books.lots if lot.quantity == 0), D(0))
    assert p.quantity == 0 and p.cost_basis == spent_for_nothing and p.average_price is None
    assert p.realized_pnl == 1 - (p.invested - spent_for_nothing)


@settings(max_examples=40, deadline=None)
@given(amounts, amounts, st.decimals(min_value=D(0), max_value=D("0.00000999"), places=8))
def test_a_fee_in_base_reduces_the_quantity_by_exactly_the_fee(q: D, cost: D, fee: D) -> None:
    with_fee = compute([entry("buy", str(q + fee), str(cost), str(fee), "BTC")])
    assert with_fee.positions[0].quantity == q
    assert with_fee.positions[0].cost_basis == cost
