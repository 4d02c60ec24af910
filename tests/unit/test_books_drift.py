"""Balance drift, pure: the balance's change since the baseline against the journal's."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from services.books.drift import Baseline, check, movement
from services.books.reconcile import JournalOrder

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def order(side: str = "buy", filled: str = "0.00004", cost: str = "2", fee: str = "0.012",
          fee_currency: str = "USD", *, mode: str = "LIVE", at: datetime = T0,
          symbol: str = "BTC/USD", origin: str = "product") -> JournalOrder:
    return JournalOrder(client_order_id="", order_id="", symbol=symbol, side=side, mode=mode,
                        status="filled", filled=Decimal(filled), cost=Decimal(cost),
                        fee=Decimal(fee), fee_currency=fee_currency, created_at=at,
                        origin=origin)


def d(text: str | int) -> Decimal:
    return Decimal(text)


def test_a_buy_adds_its_base_and_spends_its_cost_and_fee_in_the_quote() -> None:
    moved = movement([order()])
    assert moved.net == {"BTC": d("0.00004"), "USD": d("-2.012")}


def test_a_fee_in_the_base_currency_lowers_what_is_held() -> None:
    moved = movement([order(fee="0.00000004", fee_currency="BTC")])
    assert moved.net == {"BTC": d("0.00003996"), "USD": d("-2")}


def test_a_sell_moves_the_other_way_and_a_third_currency_fee_leaves_that_currency() -> None:
    moved = movement([order("sell", "0.1", "5000", "0.01", "BNB", symbol="BTC/USDT")])
    assert moved.net == {"BTC": d("-0.1"), "USDT": d("5000"), "BNB": d("-0.01")}


def test_paper_rows_and_rows_after_the_balance_was_read_do_not_count() -> None:
    rows = [order(mode="PAPER"), order(at=T0 + timedelta(seconds=5))]
    assert movement(rows, until=T0).net == {}


def test_external_orders_move_the_balance_too() -> None:
    assert movement([order(origin="external")]).net["BTC"] == d("0.00004")


def test_the_first_check_takes_the_baseline_and_finds_no_drift() -> None:
    found, baseline = check({"USD": d(1000)}, movement([]), None, T0)
    assert found == []
    assert baseline == Baseline(T0, {"USD": d(1000)}, {}, {})


def test_a_balance_that_moved_as_the_journal_did_has_no_drift() -> None:
    _, baseline = check({"USD": d(1000)}, movement([]), None, T0)
    holdings = {"USD": d("997.988"), "BTC": d("0.00004")}
    found, kept = check(holdings, movement([order()]), baseline, T0 + timedelta(minutes=15))
    assert found == [] and kept == baseline


def test_a_withdrawal_the_journal_never_saw_is_drift_per_asset() -> None:
    _, baseline = check({"USD": d(1000), "BTC": d("0.5")}, movement([]), None, T0)
    found, _ = check({"USD": d(1000), "BTC": d("0.4")}, movement([]), baseline, T0)
    [drift] = found
    assert (drift.asset, drift.balance, drift.expected, drift.drift) == (
        "BTC", d("0.4"), d("0.5"), d("-0.1"))
    assert drift.view()["drift"] == "-0.1"


def test_a_trade_missing_from_the_journal_shows_as_drift_in_both_assets() -> None:
    _, baseline = check({"USD": d(1000)}, movement([]), None, T0)
    found, _ = check({"USD": d("997.988"), "BTC": d("0.00004")}, movement([]), baseline, T0)
    assert sorted(f.asset for f in found) == ["BTC", "USD"]


def test_rounding_within_the_tolerance_is_not_drift_and_beyond_it_is() -> None:
    _, baseline = check({"USD": d(1000)}, movement([]), None, T0)
    moved = movement([order()])  # 2.012 USD traded: 1 bp of it plus dust is allowed
    rounded = {"USD": d("997.9881"), "BTC": d("0.00004")}
    assert check(rounded, moved, baseline, T0)[0] == []
    off = {"USD": d("997.978"), "BTC": d("0.00004")}
    [drift] = check(off, moved, baseline, T0)[0]
    assert drift.asset == "USD" and drift.tolerance == d("0.00020121")


def test_a_baseline_survives_its_stored_form() -> None:
    _, baseline = check({"USD": d("1000.5")}, movement([order()]), None, T0)
    assert Baseline.from_view(baseline.view()) == baseline
