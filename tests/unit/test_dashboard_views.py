"""The dashboard's pure view-model helpers: API answers in, rows and messages out."""
from __future__ import annotations

import pytest

from services.dashboard import views

pytestmark = pytest.mark.unit


def test_empty_user_id_gets_a_generated_one() -> None:
    assert views.new_user_id(lambda: "abcd1234") == "piggy-abcd1234"


def test_rejected_keys_show_the_reason() -> None:
    msg = views.validation_message({"status": "rejected", "validated": False,
                                    "error": "invalid API key", "apiKeyMasked": "ab…cd"})
    assert msg.level == "error" and "invalid API key" in msg.text and "ab…cd" in msg.text


def test_valid_keys_without_trading_permission_are_a_warning() -> None:
    msg = views.validation_message({"status": "validated", "validated": True, "canTrade": False})
    assert msg.level == "warning" and "not allowed to trade" in msg.text


@pytest.mark.parametrize(("value", "ok"), [("2", True), (2.5, True), ("1.99", False),
                                           ("two", False), ("nan", False)])
def test_test_trade_amount_is_at_least_two_dollars(value: object, ok: bool) -> None:
    amount, why = views.parse_amount(value)
    assert (amount is not None) is ok
    assert ok or why


def test_refused_trade_names_every_reason() -> None:
    msg = views.trade_message({"ok": False, "mode": "NONE", "status": "rejected",
                               "reasons": ["kill switch on", "not armed"]})
    assert msg.level == "error" and "kill switch on; not armed" in msg.text


def test_live_fill_shows_the_order_id() -> None:
    msg = views.trade_message({"ok": True, "mode": "LIVE", "status": "filled", "orderId": "42"})
    assert msg.level == "success" and "LIVE filled: order id 42" in msg.text


def test_gates_show_open_and_closed_with_reasons_and_halt_is_detected() -> None:
    live = {"armed": False, "gates": [
        {"gate": "allow_live", "open": True, "reason": "set"},
        {"gate": "armed", "open": False, "reason": "not armed"},
        {"gate": "kill_switch", "open": False, "reason": "emergency stop is engaged"}]}
    rows = views.gate_rows(live)
    assert [r["State"] for r in rows] == ["open", "CLOSED", "CLOSED"]
    assert views.closed_gates(live) == ["Emergency stop off: emergency stop is engaged"]
    assert views.is_halted(live) and not views.is_armed(live)


def test_trade_rows_mark_live_and_paper_and_keep_order_ids_and_reasons() -> None:
    rows = views.trade_rows([
        {"ts": "2026-01-02T03:04:05+00:00", "mode": "LIVE", "status": "filled", "side": "buy",
         "symbol": "BTC/USDT", "amount_usd": "2", "order_id": "1000", "reasons": []},
        {"ts": "2026-01-02T03:00:00+00:00", "mode": "PAPER", "status": "filled", "side": "buy",
         "symbol": "BTC/USDT", "amount_usd": "2", "order_id": "paper-x",
         "reasons": ["not armed"]}])
    assert [r["Mode"] for r in rows] == ["LIVE", "PAPER"]
    assert rows[0]["Order id"] == "1000" and rows[1]["Reasons"] == "not armed"
    assert rows[0]["Time (UTC)"] == "2026-01-02 03:04:05" and rows[0]["Asked USD"] == "$2.00"


def test_balances_are_valued_in_usd_largest_first() -> None:
    rows, total = views.balance_rows({"total_usd": "100.00", "balances": {
        "BTC": {"free": "0.00003", "used": "0", "total": "0.00003", "usd": "1.50"},
        "USDT": {"free": "98.5", "used": "0", "total": "98.5", "usd": "98.50"},
        "XYZ": {"free": "1", "used": "0", "total": "1", "usd": None}}})
    assert [r["Asset"] for r in rows] == ["USDT", "BTC", "XYZ"]
    assert rows[2]["USD value"] == "no price" and total == "$100.00"


def test_positions_show_quantity_cost_with_fees_and_value_now() -> None:
    rows = views.position_rows({"positions": [
        {"exchange": "coinbase", "mode": "LIVE", "asset": "BTC", "quote": "USD",
         "quantity": "0.00003976", "cost_basis": "1.999928",
         "average_price": "50299.999999999999999999999",
         "value": "1.988", "unrealized_pnl": "-0.011928", "realized_pnl": "0",
         "fees": {"USD": "0.011928"}, "method": "FIFO"},
        {"exchange": "kraken", "mode": "PAPER", "asset": "BTC", "quote": "USD",
         "quantity": "1", "cost_basis": "5", "value": None, "fees": {}, "method": "FIFO"}]})
    assert rows[0]["Cost with fees"] == "1.999928 USD" and rows[0]["Value now"] == "1.988 USD"
    assert rows[0]["Fees"] == "0.011928 USD" and rows[0]["Method"] == "FIFO"
    assert rows[0]["Avg price"] == "50300"
    assert rows[1]["Value now"] == "no price"  # never a made-up 0


def test_value_series_has_a_value_and_a_money_in_column_per_mode() -> None:
    series = views.value_series({"history": [
        {"time": "2026-12-01T09:00:00+00:00", "mode": "PAPER", "quote": "USDT",
         "value": "100", "invested": "101"},
        {"time": "2026-12-02T09:00:00+00:00", "mode": "PAPER", "quote": "USDT",
         "value": "90", "invested": "101"}]})
    assert series[1] == {"time": "2026-12-02T09:00:00+00:00",
                         "Holdings value (PAPER USDT)": 90.0,
                         "Money put in (PAPER USDT)": 101.0}


def test_below_the_exchange_minimum_the_page_offers_it_and_sends_nothing() -> None:
    assert views.minimum_message({"enough": True}) is None
    offer = views.minimum_message({
        "enough": False, "exchange": "kraken", "symbol": "BTC/USD", "minimumUsd": "5.10",
        "reason": "kraken's minimum for BTC/USD is 0.0001 BTC ≈ $5.00 at the current price; "
                  "$2 is below it"})
    assert offer is not None and offer.level == "warning"
    assert "0.0001 BTC ≈ $5.00" in offer.text and "$5.10" in offer.text
    assert "Nothing was sent" in offer.text


def test_a_filled_test_buy_says_what_was_spent() -> None:
    msg = views.trade_message({"ok": True, "mode": "LIVE", "status": "filled", "orderId": "7",
                               "summary": "asked $2.00, filled 0.00004 BTC for $2.00104"})
    assert msg.text.endswith("order id 7 — asked $2.00, filled 0.00004 BTC for $2.00104")
