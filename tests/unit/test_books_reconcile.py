"""Reconciliation's pure core: every finding kind, what it changes, and that a corrected
journal reconciles clean (a second round changes nothing)."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.books.reconcile import (
    EXTERNAL,
    JournalOrder,
    Kind,
    OrderValues,
    Report,
    Window,
    canonical_id,
    corrected,
    reconcile,
)
from shared.exchanges import adapter
from shared.exchanges.base import VenueFill, VenueOrder

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
WINDOW = Window(since=T0 - timedelta(hours=1), now=T0 + timedelta(hours=1))
CID = "pg-" + "ab" * 16
SAME = adapter("binanceus").client_order_id
KRAKEN = adapter("kraken").client_order_id


def venue(order_id: str = "1", cid: str = CID, *, status: str = "closed",
          filled: str = "0.00004", cost: str = "2", fee: str = "0.002", fee_currency: str = "USD",
          at: datetime = T0, side: str = "buy", symbol: str = "BTC/USD") -> VenueOrder:
    return VenueOrder(order_id=order_id, client_order_id=cid, symbol=symbol, side=side,
                      status=status, amount=Decimal(filled), filled=Decimal(filled),
                      cost=Decimal(cost), fee=Decimal(fee), fee_currency=fee_currency,
                      created_at=at)


def row(cid: str = CID, order_id: str = "1", *, status: str = "filled", filled: str = "0.00004",
        cost: str = "2", fee: str = "0.002", fee_currency: str = "USD", mode: str = "LIVE",
        at: datetime = T0, origin: str = "product", side: str = "buy") -> JournalOrder:
    return JournalOrder(client_order_id=cid, order_id=order_id, symbol="BTC/USD", side=side,
                        mode=mode, status=status, filled=Decimal(filled), cost=Decimal(cost),
                        fee=Decimal(fee), fee_currency=fee_currency, created_at=at,
                        origin=origin, intent_id="i-1")


def fill(trade_id: str = "t1", order_id: str = "1") -> VenueFill:
    return VenueFill(trade_id=trade_id, order_id=order_id, client_order_id=CID, symbol="BTC/USD",
                     side="buy", price=Decimal(50_000), amount=Decimal("0.00004"),
                     cost=Decimal(2), fee=Decimal("0.002"), fee_currency="USD", at=T0)


def run(journal: list[JournalOrder], orders: list[VenueOrder], fills: tuple[VenueFill, ...] = (),
        trade_ids: tuple[str, ...] = (), sent_as=SAME, window: Window = WINDOW) -> Report:  # noqa: ANN001
    return reconcile(user_id="u", exchange="coinbase", journal=journal,
                     journal_trade_ids=trade_ids, orders=orders, fills=fills, window=window,
                     sent_as=sent_as)


def kinds(report: Report) -> list[Kind]:
    return [f.kind for f in report.findings]


def test_an_order_the_exchange_agrees_with_is_matched_and_changes_nothing() -> None:
    report = run([row()], [venue()])
    assert kinds(report) == [Kind.MATCHED]
    assert report.corrections() == [] and report.clean


def test_numbers_that_differ_only_by_float_noise_are_matched() -> None:
    noisy = venue(cost="2.0000000000000004", filled="0.000040")
    assert kinds(run([row()], [noisy])) == [Kind.MATCHED]


def test_a_fee_the_exchange_reports_differently_is_a_mismatch_and_the_exchange_wins() -> None:
    report = run([row(fee="0.002", fee_currency="USD")],
                 [venue(fee="0.00000004", fee_currency="BTC")])
    [found] = report.findings
    assert found.kind is Kind.MISMATCH
    assert found.before is not None and found.after is not None
    assert (found.before["fee"], found.before["fee_currency"]) == ("0.002", "USD")
    assert (found.after["fee"], found.after["fee_currency"]) == ("0.00000004", "BTC")
    assert found.order is not None and found.order.fee == Decimal("0.00000004")
    assert "fee" in found.note and "fee_currency" in found.note
    assert not report.clean


def test_filled_and_cost_mismatch_takes_the_exchange_numbers() -> None:
    [found] = run([row(status="open", filled="0", cost="0")], [venue()]).findings
    assert found.kind is Kind.MISMATCH
    assert found.order is not None
    assert (found.order.status, found.order.filled, found.order.cost) == (
        "filled", Decimal("0.00004"), Decimal(2))
    assert found.intent_id == "i-1" and found.client_order_id == CID


def test_an_unknown_outcome_the_exchange_filled_is_resolved_to_its_numbers() -> None:
    [found] = run([row(status="unknown", order_id="", filled="0", cost="0", fee="0",
                       fee_currency="")], [venue(order_id="77")]).findings
    assert found.kind is Kind.RESOLVED
    assert found.order is not None and found.order.order_id == "77"
    assert found.order.status == "filled" and found.before is not None
    assert found.before["status"] == "unknown"


def test_a_rejected_not_resent_line_for_an_order_the_exchange_filled_is_resolved() -> None:
    [found] = run([row(status="rejected", order_id="", filled="0", cost="0", fee="0")],
                  [venue(order_id="9")]).findings
    assert found.kind is Kind.RESOLVED and found.order is not None
    assert (found.order.status, found.order.order_id) == ("filled", "9")


def test_kraken_orders_are_matched_by_the_uuid_the_exchange_holds() -> None:
    report = run([row()], [venue(cid=KRAKEN(CID))], sent_as=KRAKEN)
    assert kinds(report) == [Kind.MATCHED]


def test_an_order_matches_by_exchange_order_id_when_client_ids_differ() -> None:
    assert kinds(run([row(cid="pg-" + "cd" * 16)], [venue()])) == [Kind.MATCHED]


def test_a_product_order_the_journal_lacks_is_recorded_as_the_products() -> None:
    [found] = run([], [venue(order_id="5")]).findings
    assert found.kind is Kind.MISSING_ORDER
    assert found.order is not None and found.order.origin == "product"
    assert found.order.client_order_id == CID


def test_a_kraken_product_order_is_recorded_with_its_pg_client_id() -> None:
    [found] = run([], [venue(cid=KRAKEN(CID))], sent_as=KRAKEN).findings
    assert found.kind is Kind.MISSING_ORDER and found.client_order_id == CID


def test_an_order_placed_by_hand_is_recorded_as_external() -> None:
    for cid in ("", "my-own-bot-1", "0b7e2b5c-3a8f-4c1e-9b2d-111122223333"):
        [found] = run([], [venue(order_id="h1", cid=cid)]).findings
        assert found.kind is Kind.EXTERNAL, cid
        assert found.order is not None and found.order.origin == EXTERNAL
        assert "outside CryptoPiggy" in found.note


def test_a_uuid_client_id_is_external_on_an_exchange_that_takes_pg_ids() -> None:
    assert canonical_id("0b7e2b5c-3a8f-4c1e-9b2d-111122223333", SAME) is None
    assert canonical_id(KRAKEN(CID), KRAKEN) == CID
    assert canonical_id("not-a-uuid", KRAKEN) is None
    assert canonical_id(CID, KRAKEN) == CID


def test_an_external_order_recorded_earlier_is_matched_by_its_order_id() -> None:
    recorded = row(cid="", order_id="h1", origin=EXTERNAL)
    assert kinds(run([recorded], [venue(order_id="h1", cid="")])) == [Kind.MATCHED]


def test_a_fill_the_journal_lacks_is_recorded_and_a_known_one_is_not() -> None:
    report = run([row()], [venue()], fills=(fill("t1"), fill("t2"), fill("t2")),
                 trade_ids=("t1",))
    missing = [f for f in report.findings if f.kind is Kind.MISSING_FILL]
    assert [f.fill.trade_id for f in missing] == ["t2"]
    assert missing[0].after is not None and missing[0].after["trade_id"] == "t2"
    assert "trade history" in missing[0].note


def test_an_old_unknown_line_with_no_order_in_a_covering_window_is_absent() -> None:
    old = T0 - timedelta(minutes=30)
    [found] = run([row(status="unknown", order_id="", at=old)], []).findings
    assert found.kind is Kind.ABSENT
    assert found.after is not None and found.after["status"] == "rejected"


def test_a_young_unknown_line_is_left_alone() -> None:
    young = WINDOW.now - timedelta(minutes=1)
    assert run([row(status="unknown", order_id="", at=young)], []).findings == ()


def test_a_row_outside_the_window_is_not_judged() -> None:
    before = WINDOW.since + timedelta(minutes=1)  # inside the margin
    assert run([row(status="unknown", order_id="", at=before)], []).findings == ()
    assert run([row(at=before)], []).findings == ()


def test_a_placed_row_the_exchange_history_lacks_is_reported_not_changed() -> None:
    [found] = run([row()], []).findings
    assert found.kind is Kind.NOT_AT_EXCHANGE and found.order is None
    assert found.kind not in {f.kind for f in run([row()], []).corrections()}
    assert not run([row()], []).clean


def test_a_rejected_row_without_an_order_agrees_with_the_exchange() -> None:
    assert run([row(status="rejected", order_id="")], []).findings == ()


def test_paper_rows_are_never_reconciled() -> None:
    paper = row(mode="PAPER", status="filled", order_id="paper-1")
    assert run([paper], []).findings == ()
    assert kinds(run([paper], [venue(order_id="x", cid="pg-" + "ef" * 16)])) == [
        Kind.MISSING_ORDER]


def test_a_client_id_placed_twice_is_a_duplicate_recorded_as_its_own_row() -> None:
    report = run([row()], [venue("1"), venue("2", at=T0 + timedelta(seconds=1))])
    assert kinds(report) == [Kind.MATCHED, Kind.DUPLICATE]
    dup = report.findings[1]
    assert dup.order is not None and dup.order.order_id == "2"
    assert dup.order.client_order_id == "" and dup.intent_id == "i-1"
    assert "placed twice" in dup.note and not report.clean
    assert kinds(run(corrected([row()], report), [venue("1"), venue("2")])) == [
        Kind.MATCHED, Kind.MATCHED]


def test_the_order_the_journal_names_is_matched_even_when_a_duplicate_came_first() -> None:
    report = run([row(order_id="2")], [venue("1"), venue("2", at=T0 + timedelta(seconds=1))])
    assert kinds(report) == [Kind.DUPLICATE, Kind.MATCHED]
    assert report.findings[0].order_id == "1"


def test_an_order_listed_twice_by_overlapping_pages_is_one_finding() -> None:
    assert kinds(run([], [venue(), venue()])) == [Kind.MISSING_ORDER]


def test_the_report_view_counts_every_kind_and_lists_all_but_matched() -> None:
    report = run([row(), row(cid="pg-" + "11" * 16, order_id="2", status="unknown")],
                 [venue(), venue(order_id="2", cid="pg-" + "11" * 16), venue("h", cid="")])
    view = report.view()
    assert view["counts"]["matched"] == 1 and view["counts"]["resolved"] == 1
    assert view["counts"]["external"] == 1 and view["clean"] is False
    assert {f["kind"] for f in view["findings"]} == {"resolved", "external"}


orders_st = st.builds(
    venue, order_id=st.sampled_from(["1", "2", "3", "4"]),
    cid=st.sampled_from([CID, "pg-" + "12" * 16, "", "hand"]),
    status=st.sampled_from(["closed", "open", "canceled"]),
    filled=st.sampled_from(["0", "0.00004", "0.1"]), cost=st.sampled_from(["0", "2", "5000"]),
    fee=st.sampled_from(["0", "0.002", "0.00000004"]),
    fee_currency=st.sampled_from(["USD", "BTC"]))
rows_st = st.builds(
    row, cid=st.sampled_from([CID, "pg-" + "12" * 16, "pg-" + "34" * 16]),
    order_id=st.sampled_from(["", "1", "2", "9"]),
    status=st.sampled_from(["filled", "open", "unknown", "rejected"]),
    filled=st.sampled_from(["0", "0.00004"]), cost=st.sampled_from(["0", "2"]),
    at=st.sampled_from([T0, T0 - timedelta(minutes=40)]))


def _unique(rows: list[JournalOrder]) -> list[JournalOrder]:
    """A journal holds one row per client order id and per exchange order id."""
    out: list[JournalOrder] = []
    for r in rows:
        if all(r.client_order_id != o.client_order_id and (not r.order_id or r.order_id
                                                            != o.order_id) for o in out):
            out.append(r)
    return out


@settings(max_examples=300, deadline=None)
@given(journal=st.lists(rows_st, max_size=4), orders=st.lists(orders_st, max_size=5))
def test_once_corrected_a_second_round_finds_nothing_to_change(
        journal: list[JournalOrder], orders: list[VenueOrder]) -> None:
    journal = _unique(journal)
    orders = list({o.order_id: o for o in orders}.values())
    first = run(journal, orders)
    second = run(corrected(journal, first), orders)
    assert second.corrections() == [], [f.note for f in second.corrections()]
    for f in first.findings:
        if f.order is not None:  # every write is the exchange's own numbers
            order = next(o for o in orders if o.order_id == f.order_id)
            assert isinstance(f.order, OrderValues)
            assert (f.order.filled, f.order.cost, f.order.fee) == (
                order.filled, order.cost, order.fee)


def test_corrected_applies_an_absent_finding_as_rejected() -> None:
    old = row(status="unknown", order_id="", at=T0 - timedelta(minutes=30))
    [after] = corrected([old], run([old], []))
    assert after == replace(old, status="rejected")
