"""The journal's pure parts: trade line → row values, and where the stream may be trimmed."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.books.trim import GroupState, boundary, journaled_below
from shared.books.journal import order_values, paper_fill_values, rows_for
from shared.books.models import canonical, normalized
from shared.events import Mode, TradeLogged, TradeStatus

pytestmark = pytest.mark.unit


def _line(**over: object) -> TradeLogged:
    base: dict[str, object] = {"intent_id": "i1", "user_id": "u", "symbol": "BTC/USD", "side": "buy",
                               "amount_usd": Decimal(2), "mode": Mode.PAPER,
                               "status": TradeStatus.FILLED, "price": Decimal(50000),
                               "filled": Decimal("0.00004"), "cost": Decimal(2),
                               "fee": Decimal("0.012"), "fee_currency": "USD",
                               "order_id": "paper-i1"}
    return TradeLogged.model_validate(base | over)


def test_a_line_maps_to_the_same_row_every_time_and_a_batch_counts_an_intent_once() -> None:
    line = _line()
    assert order_values(line, "5-0") == order_values(line, "5-0")
    rows = rows_for([("5-0", line), ("6-0", line), ("7-0", _line(intent_id="i2"))])
    assert rows.intent_ids == ["i1", "i2"] and len(rows.fills) == 2
    row = rows.orders[0]
    assert row["created_at"] == line.ts == row["updated_at"]  # the line's time, never the clock
    assert row["client_order_id"] is None and row["order_id"] == "paper-i1"


def test_only_a_filled_paper_line_has_a_fill_of_its_own() -> None:
    assert paper_fill_values(_line())["trade_id"] == "paper-i1"  # type: ignore[index]
    assert paper_fill_values(_line(mode=Mode.LIVE, client_order_id="c1")) is None
    assert paper_fill_values(_line(status=TradeStatus.REJECTED, filled=Decimal(0))) is None


@pytest.mark.parametrize(("amount", "text"), [("0.00000001", "0.00000001"), ("2.50000", "2.5"),
                                              ("1E+1", "10"), ("0E-8", "0"), ("-3.10", "-3.1")])
def test_money_is_stored_as_canonical_plain_decimal_text(amount: str, text: str) -> None:
    assert canonical(Decimal(amount)) == text
    assert normalized(Decimal(amount)) == Decimal(amount)


def _g(name: str, last: str, pending: int = 0, oldest: str | None = None) -> GroupState:
    return GroupState(name, last, pending, oldest)


def test_the_stream_is_trimmed_below_the_slowest_group_and_the_kept_tail() -> None:
    groups = [_g("books", "100-5", 2, "90-0"), _g("notifier", "100-5")]
    assert boundary(groups, "books", now_ms=10_000, keep_ms=0) == "90-0"
    assert journaled_below(groups, "books") == "90-0"
    assert boundary([_g("books", "100-5"), _g("strategy", "50-1", 1, "40-0")], "books",
                    now_ms=10_000, keep_ms=0) == "40-0"
    # the last hour stays for readers that look recent lines up
    assert boundary([_g("books", "100-5")], "books", now_ms=80, keep_ms=10) == "70-0"


def test_nothing_is_trimmed_before_the_journal_has_read_anything() -> None:
    assert boundary([_g("notifier", "100-0")], "books", now_ms=10_000, keep_ms=0) is None
    assert boundary([_g("books", "0-0")], "books", now_ms=10_000, keep_ms=0) is None
