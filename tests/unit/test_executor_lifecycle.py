"""The intent lifecycle: the transition table and what an outcome does, over random orders."""
from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.executor.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    IntentRecord,
    IntentStatus,
    OutcomeAction,
    advance,
    allowed,
    lua_table,
    plan_outcome,
)
from shared.events import OrderIntent

pytestmark = pytest.mark.unit
S = IntentStatus
INTENT = OrderIntent(user_id="u", symbol="BTC/USDT", amount_usd=Decimal(2))


def test_every_status_is_reachable_from_received_and_ends_in_a_terminal_one() -> None:
    seen, todo = {S.RECEIVED}, [S.RECEIVED]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(S)
    assert TERMINAL == {S.PLACED, S.REJECTED, S.UNKNOWN, S.PAPER_FILLED}


def test_terminal_statuses_never_change_and_skipping_a_step_is_refused() -> None:
    for done in TERMINAL:
        for other in set(S) - {done}:
            with pytest.raises(IllegalTransition):
                advance(done, other)
    with pytest.raises(IllegalTransition):
        advance(S.RECEIVED, S.ROUTED)
    with pytest.raises(IllegalTransition):
        advance(S.DECIDED, S.PLACED)
    assert advance(None, S.RECEIVED) is S.RECEIVED


def test_the_lua_table_is_the_python_table() -> None:
    table = lua_table()
    for cur, nxt in TRANSITIONS.items():
        assert f"{cur.value}={{{', '.join(f'{n.value}=true' for n in sorted(nxt))}}}" in table


# Events an intent can meet, in any order, any number of times: its delivery, a redelivery,
# the gateway's answers (placed, refused, status unknown), duplicates of those, and rounds of
# the reconciler after which the rounds are used up.
EVENTS = st.lists(st.sampled_from(["routed", "placed", "rejected", "unknown", "exhausted"]),
                  max_size=25)


@given(EVENTS)
def test_any_order_of_outcomes_logs_once_and_never_leaves_a_terminal_status(events: list[str]) -> None:
    record = IntentRecord(intent=INTENT, status=S.RECEIVED)
    lines, releases, history = 0, 0, [S.RECEIVED]
    for event in events:
        if event == "routed":  # a (re)delivery routing it live: a no-op once past "decided"
            for step in (S.DECIDED, S.ROUTED):
                if allowed(record.status, step):
                    record = record.model_copy(update={"status": advance(record.status, step)})
                    history.append(step)
            continue
        plan = plan_outcome(record, placed=event == "placed",
                            status_unknown=event in ("unknown", "exhausted"),
                            rounds_left=event != "exhausted")
        if record.status is not S.ROUTED:  # an outcome before routing, or after the end
            if record.terminal:
                assert plan.action is OutcomeAction.IGNORE
            if plan.action is not OutcomeAction.LOG:
                continue
            assert plan.status is not None
            assert not allowed(record.status, plan.status)  # the ledger refuses it
            continue
        if plan.action is OutcomeAction.LOG:
            assert plan.status is not None
            record = record.model_copy(update={"status": advance(record.status, plan.status)})
            history.append(record.status)  # type: ignore[arg-type]
            lines += 1
            releases += plan.release
    assert lines <= 1
    assert releases <= 1 and (releases == 0 or record.status is S.REJECTED)
    terminal_at = next((i for i, s in enumerate(history) if s in TERMINAL), None)
    if terminal_at is not None:
        assert set(history[terminal_at:]) == {history[terminal_at]}
        assert lines == 1
    for a, b in pairwise(history):
        assert allowed(a, b)


def test_an_unknown_status_asks_again_while_rounds_are_left_then_is_logged_unknown() -> None:
    routed = IntentRecord(intent=INTENT, status=S.ROUTED)
    assert plan_outcome(routed, placed=False, status_unknown=True,
                        rounds_left=True).action is OutcomeAction.LOOKUP
    last = plan_outcome(routed, placed=False, status_unknown=True, rounds_left=False)
    assert (last.action, last.status, last.release) == (OutcomeAction.LOG, S.UNKNOWN, False)
    refused = plan_outcome(routed, placed=False, status_unknown=False, rounds_left=True)
    assert (refused.status, refused.release) == (S.REJECTED, True)
    assert plan_outcome(None, placed=True, status_unknown=False,
                        rounds_left=True).action is OutcomeAction.IGNORE


def test_the_record_reads_the_ledger_hash() -> None:
    rec = IntentRecord.from_hash({"claimed_by": "e1", "status": "routed",
                                  "intent": INTENT.model_dump_json(), "routed": "gateway",
                                  "reserved": "2000000", "lookups": "3"})
    assert rec.status is S.ROUTED and rec.intent == INTENT and rec.reserved == 2_000_000
    assert rec.lookups == 3 and not rec.terminal and rec.outcome is None


def test_a_frame_written_from_lua_reads_back_as_faststream_reads_a_published_entry() -> None:
    from faststream.redis.parser import BinaryMessageFormatV1

    from shared.bus import frame

    body, headers = BinaryMessageFormatV1.parse(frame(INTENT))
    assert OrderIntent.model_validate_json(body) == INTENT
    assert headers == {"correlation_id": INTENT.correlation_id, "content-type": "application/json"}
