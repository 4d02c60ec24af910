"""DCA piggy bank: pure core, time passed in, no I/O."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.strategy.dca import Dca, DcaConfig
from shared.events import Mode, Side, TradeLogged

pytestmark = pytest.mark.unit
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def dca(**over: object) -> Dca:
    cfg = {"name": "pig", "user_id": "alice", "symbol": "BTC/USDT", "amount_usd": "5",
               "interval_s": 60, "budget_usd": "20"}
    return Dca(DcaConfig.model_validate({**cfg, **over, "kind": "dca"}))


def filled(intent_id: str, status: str = "filled", mode: Mode = Mode.PAPER) -> TradeLogged:
    return TradeLogged(intent_id=intent_id, user_id="alice", symbol="BTC/USDT", side=Side.BUY,
                       amount_usd=Decimal(5), mode=mode, status=status)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_first_tick_buys_at_once_with_a_deterministic_intent_id() -> None:
    s = dca()
    drafts = s.on_tick(T0)
    assert [(d.intent_id, d.side, d.amount_usd) for d in drafts] == [("dca:pig:0", Side.BUY, Decimal(5))]
    assert s.state.spent == Decimal(5) and s.state.in_flight == "dca:pig:0"


def test_one_intent_per_period_however_often_the_clock_ticks() -> None:
    s = dca(budget_usd="1000")
    ids = []
    for i in range(0, 300, 7):  # ticks every 7 s over 5 periods of 60 s
        for d in s.on_tick(at(i)):
            ids.append(d.intent_id)
            s.on_outcome(filled(d.intent_id), at(i))
    assert ids == [f"dca:pig:{n}" for n in range(5)]


def test_period_is_skipped_with_a_note_while_the_previous_intent_has_no_outcome() -> None:
    s = dca()
    s.on_tick(T0)
    assert s.on_tick(at(61)) == []
    assert s.drain_notes() == ["period 1 skipped: previous intent dca:pig:0 has not finished"]
    assert s.on_tick(at(70)) == [] and s.drain_notes() == []  # said once, not every tick
    s.on_outcome(filled("dca:pig:0"), at(75))
    assert [d.intent_id for d in s.on_tick(at(80))] == ["dca:pig:1"]  # still in period 1


def test_budget_spent_stops_buying_and_says_so() -> None:
    s = dca(budget_usd="10")
    for n in range(2):
        (d,) = s.on_tick(at(60 * n))
        s.on_outcome(filled(d.intent_id), at(60 * n))
    assert s.on_tick(at(120)) == []
    assert s.drain_notes() == ["period 2 skipped: budget spent: 10 of 10 USD"]
    assert s.state.spent == Decimal(10)


def test_a_rejected_intent_gives_its_amount_back_to_the_budget() -> None:
    s = dca(budget_usd="5")
    s.on_tick(T0)
    s.on_outcome(filled("dca:pig:0", status="rejected", mode=Mode.NONE), at(1))
    assert s.state.spent == 0 and s.state.in_flight is None
    assert [d.intent_id for d in s.on_tick(at(60))] == ["dca:pig:1"]


def test_outcome_of_another_intent_is_ignored() -> None:
    s = dca()
    s.on_tick(T0)
    s.on_outcome(filled("dca:other:0"), at(1))
    assert s.state.in_flight == "dca:pig:0"


def test_restart_from_saved_state_does_not_buy_the_same_period_again() -> None:
    s = dca()
    s.on_tick(T0)
    s.on_outcome(filled("dca:pig:0"), at(1))
    again = Dca.from_json(s.config, s.state.model_dump_json())
    assert again.on_tick(at(30)) == []
    assert [d.intent_id for d in again.on_tick(at(61))] == ["dca:pig:1"]


def test_periods_missed_while_down_are_not_caught_up() -> None:
    s = dca(budget_usd="1000")
    s.on_tick(T0)
    s.on_outcome(filled("dca:pig:0"), at(1))
    assert [d.intent_id for d in s.on_tick(at(60 * 5 + 3))] == ["dca:pig:5"]
    assert s.on_tick(at(60 * 5 + 30)) == []


def test_start_at_anchors_periods_and_nothing_happens_before_it() -> None:
    s = dca(start_at=at(120).isoformat())
    assert s.on_tick(T0) == []
    assert s.next_due(T0) == at(120)
    assert [d.intent_id for d in s.on_tick(at(185))] == ["dca:pig:1"]


def test_status_shows_spent_and_next_due() -> None:
    s = dca()
    s.on_tick(T0)
    st = s.status(at(10))
    assert st["spent"] == "5" and st["next_due"] == at(60).isoformat()
    assert st["in_flight"] == "dca:pig:0"
