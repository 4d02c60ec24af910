"""What to do with each intent of a batch, from what the ledger's ``intake`` call read. Pure.

``static_live`` is asked before the Redis call (the gates that need no Redis: ALLOW_LIVE,
dry run, amount bounds); the intake script then reserves atomically only where the Redis
gates are open too. ``plan`` turns the values the script read into the gate inputs, runs the
pure gates and routing on them and says what to write.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from services.executor import gates, routing
from services.executor.gates import Credentials, GateInputs
from services.executor.ledger import Claim, Intake, IntakeRow, Reservation
from services.executor.risk import from_micros
from services.executor.routing import Decision, Route
from shared.events import OrderIntent
from shared.settings import ExecutorSettings
from shared.state import TradingState, parse_price


class Action(StrEnum):
    SKIP = "skip"  # already answered, or being handled by another consumer: ack only
    LIVE = "live"  # reserved: decision + order request
    PAPER = "paper"
    REJECT = "reject"


@dataclass(frozen=True)
class Plan:
    action: Action
    decision: Decision | None = None
    route: Route | None = None
    unroute: bool = False  # a reservation the gates do not back (never expected): give it back
    price: Decimal | None = None
    why: str = ""
    extra_reasons: tuple[str, ...] = ()  # why a paper fill was refused (no real price)
    sent: bool = False  # routed in the intake step itself: nothing left to write


def static_live(intent: OrderIntent, s: ExecutorSettings) -> bool:
    """Whether the gates that need no Redis are open for this intent."""
    probe = GateInputs(allow_live=s.allow_live, credentials=Credentials("validated", True),
                       heartbeat_age_s=0.0, heartbeat_max_age_s=s.heartbeat_max_age_s, armed=True,
                       trading_state=TradingState.ACTIVE, dry_run=s.dry_run,
                       amount_usd=intent.amount_usd, min_trade_usd=s.min_trade_usd,
                       max_trade_usd=s.max_trade_usd, spent_today_usd=Decimal(0),
                       daily_cap_usd=s.daily_cap_usd)
    return not gates.closed(gates.evaluate(probe))


def inputs(intake: Intake, row: IntakeRow, intent: OrderIntent, s: ExecutorSettings,
           now: float) -> GateInputs:
    return GateInputs(
        allow_live=s.allow_live,
        credentials=Credentials(status=row.cred_status, can_trade=row.can_trade,
                                error=row.cred_error),
        heartbeat_age_s=max(0.0, now - intake.heartbeat) if intake.heartbeat is not None else None,
        heartbeat_max_age_s=s.heartbeat_max_age_s,
        armed=row.armed,
        trading_state=TradingState.HALTED if intake.halted else TradingState.ACTIVE,
        dry_run=s.dry_run,
        amount_usd=intent.amount_usd,
        min_trade_usd=s.min_trade_usd,
        max_trade_usd=s.max_trade_usd,
        spent_today_usd=from_micros(row.spent_micros),
        daily_cap_usd=s.daily_cap_usd,
    )


def plan(intake: Intake, row: IntakeRow, intent: OrderIntent, s: ExecutorSettings, now: float,
         *, direct_configured: bool) -> Plan:
    if row.claim in (Claim.DONE, Claim.BUSY):
        return Plan(Action.SKIP, why=row.claim.value)
    if row.reservation is Reservation.ALREADY:  # routed before (a redelivery): same route again
        return Plan(Action.LIVE, route=Route.DIRECT if row.routed == "direct" else Route.GATEWAY)
    paper_enabled = s.paper_enabled and not intent.live_only  # "Test LIVE buy": live or nothing
    decision = routing.decide(gates.evaluate(inputs(intake, row, intent, s, now)),
                              paper_enabled=paper_enabled, direct_configured=direct_configured)
    live = decision.route in (Route.GATEWAY, Route.DIRECT)
    if row.reservation is Reservation.SENT:  # its order request is out: the gateway answers
        return Plan(Action.LIVE, decision, Route.GATEWAY, sent=True,
                    why="" if live else f"routed at intake, yet the gates say {decision.route}")
    if live and row.reservation is Reservation.OK:
        return Plan(Action.LIVE, decision, decision.route)
    unroute = row.reservation is Reservation.OK  # reserved, yet the gates say not live
    if live:  # the gates say live but nothing was reserved: never live without a reservation
        closed = gates.GateResult(gates.Gate.DAILY_CAP, False,
                                  f"live reservation refused ({row.reservation.value or 'not tried'})")
        decision = routing.decide([closed], paper_enabled=paper_enabled,
                                  direct_configured=direct_configured)
    if decision.route is Route.PAPER:
        price = parse_price(row.price)
        if price is not None:
            return Plan(Action.PAPER, decision, Route.PAPER, unroute=unroute, price=price)
        # A paper fill at a made-up price would be a lie in the trade log.
        why = (f"no price for {intent.symbol} on {intent.exchange}: the gateway publishes no "
               "ticker for it (unknown symbol, or the gateway is not running)")
        return Plan(Action.REJECT, decision, Route.REJECT, unroute=unroute, extra_reasons=(why,))
    return Plan(Action.REJECT, decision, Route.REJECT, unroute=unroute)
