"""The live gates and the routing decision, over every combination of gate states."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.executor import gates, routing
from services.executor.gates import Credentials, Gate, GateInputs
from services.executor.routing import Route
from shared.state import TradingState

pytestmark = pytest.mark.unit

MIN, MAX, CAP = Decimal(2), Decimal(100), Decimal(50)


def inputs(**overrides: object) -> GateInputs:
    base: dict[str, object] = {
        "allow_live": True, "credentials": Credentials("validated", True), "heartbeat_age_s": 0.5,
        "heartbeat_max_age_s": 5.0, "armed": True, "trading_state": TradingState.ACTIVE,
        "dry_run": False, "amount_usd": Decimal(2), "min_trade_usd": MIN, "max_trade_usd": MAX,
        "spent_today_usd": Decimal(0), "daily_cap_usd": CAP,
    }
    base.update(overrides)
    return GateInputs(**base)  # type: ignore[arg-type]


# Each gate, as (open inputs, closed inputs) — drawn independently below.
GATE_TOGGLES: dict[Gate, tuple[dict[str, object], dict[str, object]]] = {
    Gate.ALLOW_LIVE: ({"allow_live": True}, {"allow_live": False}),
    Gate.CREDENTIALS: ({"credentials": Credentials("validated", True)},
                       {"credentials": Credentials("revoked", False, "key revoked")}),
    Gate.GATEWAY_HEARTBEAT: ({"heartbeat_age_s": 1.0}, {"heartbeat_age_s": 9.0}),
    Gate.ARMED: ({"armed": True}, {"armed": False}),
    Gate.KILL_SWITCH: ({"trading_state": TradingState.ACTIVE}, {"trading_state": TradingState.HALTED}),
    Gate.DRY_RUN: ({"dry_run": False}, {"dry_run": True}),
    Gate.DAILY_CAP: ({"spent_today_usd": Decimal(0)}, {"spent_today_usd": Decimal(49)}),
}
AMOUNTS = {"ok": Decimal(2), "below": Decimal("1.99"), "above": Decimal("100.01")}


@given(closed_set=st.sets(st.sampled_from(sorted(GATE_TOGGLES))),
       amount=st.sampled_from(sorted(AMOUNTS)), paper=st.booleans())
def test_live_route_iff_every_gate_open_and_reasons_are_exactly_the_closed_gates(
        closed_set: set[Gate], amount: str, paper: bool) -> None:
    fields: dict[str, object] = {"amount_usd": AMOUNTS[amount]}
    for gate, (open_fields, closed_fields) in GATE_TOGGLES.items():
        fields.update(closed_fields if gate in closed_set else open_fields)
    expected = set(closed_set)
    if amount == "below":
        expected.add(Gate.MIN_AMOUNT)
    if amount == "above":
        expected |= {Gate.MAX_AMOUNT, Gate.DAILY_CAP}  # $100.01 can never fit a $50 cap
    results = gates.evaluate(inputs(**fields))
    decision = routing.decide(results, paper_enabled=paper, direct_configured=False)

    assert {r.gate for r in results if not r.open} == expected
    assert {r.gate for r in decision.closed} == expected
    assert len(decision.reasons) == len(expected)
    if expected:
        assert decision.route is (Route.PAPER if paper else Route.REJECT)
    else:
        assert decision.route is Route.GATEWAY


def test_every_closed_gate_has_a_sentence_naming_the_problem() -> None:
    results = gates.evaluate(inputs(allow_live=False, credentials=Credentials("missing"),
                                    heartbeat_age_s=None, armed=False,
                                    trading_state=TradingState.HALTED, dry_run=True,
                                    amount_usd=Decimal(1)))
    reasons = {r.gate: r.reason for r in results if not r.open}
    assert "ALLOW_LIVE=1" in reasons[Gate.ALLOW_LIVE]
    assert "no API keys" in reasons[Gate.CREDENTIALS]
    assert "no gateway heartbeat" in reasons[Gate.GATEWAY_HEARTBEAT]
    assert "piggy resume" in reasons[Gate.KILL_SWITCH]
    assert reasons[Gate.MIN_AMOUNT] == "$1.00 is below the minimum trade of $2.00"


def test_stale_heartbeat_routes_direct_only_when_a_direct_path_is_configured() -> None:
    stale = gates.evaluate(inputs(heartbeat_age_s=30.0))
    assert routing.decide(stale, paper_enabled=False, direct_configured=True).route is Route.DIRECT
    fallback = routing.decide(stale, paper_enabled=False, direct_configured=False)
    assert fallback.route is Route.REJECT
    assert [g.gate for g in fallback.closed] == [Gate.GATEWAY_HEARTBEAT]


def test_key_without_trading_permission_closes_the_credentials_gate() -> None:
    result = gates.evaluate(inputs(credentials=Credentials("validated", can_trade=False)))
    closed = gates.closed(result)
    assert [r.gate for r in closed] == [Gate.CREDENTIALS]
    assert "no trading permission" in closed[0].reason


def test_client_order_id_is_deterministic_and_exchange_safe() -> None:
    a, b = routing.client_order_id("intent-1"), routing.client_order_id("intent-1")
    assert a == b != routing.client_order_id("intent-2")
    assert len(a) <= 36 and a.replace("-", "").isalnum()
