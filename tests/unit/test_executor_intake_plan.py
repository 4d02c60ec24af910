"""``intake.plan`` for an intent the intake step already routed (``Reservation.SENT``): live at
the gateway, nothing left to write, whatever else the values say; a reservation alone
(``OK``) is still decided by the gates."""
from __future__ import annotations

from decimal import Decimal

from services.executor import intake
from services.executor.intake import Action
from services.executor.ledger import Claim, Intake, IntakeRow, Reservation
from services.executor.lifecycle import IntentStatus
from services.executor.routing import Route
from shared.events import OrderIntent
from shared.settings import ExecutorSettings

S = ExecutorSettings(allow_live=True)
INTENT = OrderIntent(user_id="ann", symbol="BTC/USDT", amount_usd=Decimal(2))
OPEN = Intake(halted=False, heartbeat=100.0, rows=[])


def _row(reservation: Reservation) -> IntakeRow:
    return IntakeRow(Claim.NEW, IntentStatus.ROUTED, "gateway", True, "validated", True, "", 0,
                     "50000", reservation)


def test_sent_is_live_at_the_gateway_with_nothing_to_write() -> None:
    p = intake.plan(OPEN, _row(Reservation.SENT), INTENT, S, 100.5, direct_configured=False)
    assert (p.action, p.route, p.sent, p.unroute, p.why) == (Action.LIVE, Route.GATEWAY, True,
                                                            False, "")


def test_sent_stays_live_and_says_so_when_the_gates_now_disagree() -> None:
    halted = Intake(halted=True, heartbeat=100.0, rows=[])
    p = intake.plan(halted, _row(Reservation.SENT), INTENT, S, 100.5, direct_configured=False)
    assert p.action is Action.LIVE and p.sent and not p.unroute
    assert p.why.startswith("routed at intake")


def test_a_reservation_alone_is_routed_by_the_commit() -> None:
    p = intake.plan(OPEN, _row(Reservation.OK), INTENT, S, 100.5, direct_configured=False)
    assert p.action is Action.LIVE and not p.sent
