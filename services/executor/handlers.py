"""Executor handlers: decode → decide (pure core) → reserve/route/fill → log.

Exactly once: the intent id is claimed in the ledger before anything else; the outcome is
recorded with HSETNX, so a redelivered or re-published intent is answered from the ledger.
The live reservation (kill switch, armed, daily cap) is one Lua call right before routing,
so an emergency stop stops intents that were already consumed but not yet routed.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from decimal import Decimal

from services.executor import gates, routing
from services.executor.context import ExecutorContext
from services.executor.ledger import Reservation
from services.executor.risk import paper_fill, spend_key, to_micros
from services.executor.routing import Decision, Route
from services.executor.snapshot import gate_inputs
from shared import state, streams, tradelog
from shared.bus import delivery_count
from shared.events import (
    IntentAccepted,
    IntentRejected,
    Mode,
    OrderIntent,
    OrderPlaced,
    OrderRejected,
    OrderRequested,
    TradeLogged,
    new_id,
)
from shared.state import TradingState

log = logging.getLogger("piggy.executor")

STATUS_UNKNOWN = "status_unknown"  # the gateway's code: placement ambiguous, lookup failed
MAX_LOOKUPS = 10

_RESERVATION_CLOSES = {
    Reservation.HALTED: {"trading_state": TradingState.HALTED},
    Reservation.DISARMED: {"armed": False},
}


async def on_intent(ctx: ExecutorContext, intent: OrderIntent) -> None:
    if not await ctx.ledger.claim(intent, ctx.bus.consumer):
        entry = await ctx.ledger.get(intent.intent_id)
        if entry is not None and entry.outcome is not None:
            log.info("intent %s seen again; answered from the ledger (%s)", intent.intent_id,
                     entry.outcome.status)
            return
        if delivery_count() <= 1:
            log.info("intent %s is already being handled; not handled twice", intent.intent_id)
            return
        log.warning("intent %s redelivered after its consumer stopped; resuming", intent.intent_id)

    inputs = await gate_inputs(ctx, intent.user_id, intent.exchange, intent.amount_usd)
    decision = _decide(ctx, inputs)
    if decision.route in (Route.GATEWAY, Route.DIRECT):
        reservation = await ctx.ledger.reserve_live(
            intent, spend_key(intent.user_id, ctx.now()), to_micros(intent.amount_usd),
            to_micros(ctx.settings.daily_cap_usd), decision.route.value)
        if reservation in (Reservation.OK, Reservation.ALREADY):
            await _route_live(ctx, intent, decision.route)
            return
        decision = _decide(ctx, _closed_by(reservation, inputs))
    if decision.route is Route.PAPER:
        await _fill_paper(ctx, intent, decision)
    else:
        await _reject(ctx, intent, decision)


def _decide(ctx: ExecutorContext, inputs: gates.GateInputs) -> Decision:
    return routing.decide(gates.evaluate(inputs), paper_enabled=ctx.settings.paper_enabled,
                          direct_configured=ctx.direct is not None)


def _closed_by(reservation: Reservation, inputs: gates.GateInputs) -> gates.GateInputs:
    if reservation is Reservation.CAP:
        return dataclasses.replace(inputs, spent_today_usd=inputs.daily_cap_usd)
    return dataclasses.replace(inputs, **_RESERVATION_CLOSES[reservation])


async def _route_live(ctx: ExecutorContext, intent: OrderIntent, route: Route) -> None:
    request = _request(ctx, intent)
    await ctx.bus.publish(IntentAccepted(intent_id=intent.intent_id, user_id=intent.user_id,
                                         mode=Mode.LIVE, route=route.value,
                                         correlation_id=intent.correlation_id), streams.DECISIONS)
    await ctx.ledger.mark_inflight(intent.intent_id, ctx.clock() + ctx.settings.outcome_timeout_s)
    if route is Route.GATEWAY:
        await ctx.bus.publish(request, streams.ORDER_REQUESTS)
    else:
        await on_order_event(ctx, await ctx.direct.place(request))


def _request(ctx: ExecutorContext, intent: OrderIntent) -> OrderRequested:
    return OrderRequested(
        intent_id=intent.intent_id, client_order_id=routing.client_order_id(intent.intent_id),
        user_id=intent.user_id, exchange=intent.exchange, symbol=intent.symbol, side=intent.side,
        amount_usd=intent.amount_usd, live=True, requested_by=ctx.bus.consumer,
        min_usd=ctx.settings.min_trade_usd, max_usd=ctx.settings.max_trade_usd,
        correlation_id=intent.correlation_id)


async def _fill_paper(ctx: ExecutorContext, intent: OrderIntent, decision: Decision) -> None:
    price = await state.last_price(ctx.bus.redis, intent.exchange, intent.symbol)
    fill = paper_fill(intent.amount_usd, price or ctx.settings.fallback_price_usd, intent.side.value)
    await ctx.bus.publish(IntentAccepted(intent_id=intent.intent_id, user_id=intent.user_id,
                                         mode=Mode.PAPER, route="paper",
                                         correlation_id=intent.correlation_id), streams.DECISIONS)
    await _log(ctx, _line(intent, Mode.PAPER, "filled", order_id=f"paper-{intent.intent_id}",
                          price=fill.price, filled=fill.filled, cost=fill.cost, fee=fill.fee,
                          reasons=decision.reasons, route="paper"))


async def _reject(ctx: ExecutorContext, intent: OrderIntent, decision: Decision) -> None:
    reasons = decision.reasons or ["no route to the exchange: gateway down and no direct path"]
    await ctx.bus.publish(IntentRejected(intent_id=intent.intent_id, user_id=intent.user_id,
                                         reasons=reasons, correlation_id=intent.correlation_id),
                          streams.DECISIONS)
    await _log(ctx, _line(intent, Mode.NONE, "rejected", reasons=reasons, route="none"))


async def on_order_event(ctx: ExecutorContext, event: OrderPlaced | OrderRejected) -> None:
    entry = await ctx.ledger.get(event.intent_id)
    if entry is None or entry.intent is None:
        log.warning("order event for unknown intent %s ignored", event.intent_id)
        return
    intent = entry.intent
    if isinstance(event, OrderPlaced):
        status = "filled" if event.status == "closed" else event.status  # ccxt: closed = filled
        line = _line(intent, Mode.LIVE, status, order_id=event.order_id,
                     client_order_id=event.client_order_id, price=event.average, filled=event.filled,
                     cost=event.cost, fee=event.fee, fee_currency=event.fee_currency,
                     reasons=event.notes, route=event.route)
    elif event.code == STATUS_UNKNOWN:
        line = await _status_unknown(ctx, intent, event)
        if line is None:
            return
    else:
        await ctx.ledger.release(intent.intent_id)
        line = _line(intent, Mode.LIVE, "rejected", client_order_id=event.client_order_id,
                     reasons=[f"{event.category.value}: {event.message}"], route=event.route)
    await _log(ctx, line)


async def _status_unknown(ctx: ExecutorContext, intent: OrderIntent,
                          event: OrderRejected) -> TradeLogged | None:
    """The exchange may or may not have the order: ask again (the gateway looks a seen client
    order id up before anything else, so this is a lookup, never a blind re-send). After
    ``MAX_LOOKUPS`` rounds the intent is logged as unknown, its reservation kept."""
    rounds = await ctx.ledger.count_lookup(intent.intent_id)
    if rounds < MAX_LOOKUPS:
        log.warning("order for intent %s has unknown status (round %d); asking for a lookup",
                    intent.intent_id, rounds)
        await asyncio.sleep(min(0.25 * rounds, 2.0))
        await ctx.bus.publish(_request(ctx, intent), streams.ORDER_REQUESTS)
        return None
    return _line(intent, Mode.LIVE, "unknown", client_order_id=event.client_order_id,
                 reasons=[(f"status unknown after {rounds} lookups: {event.message}; "
                           "check the exchange before retrying")], route=event.route)


def _line(intent: OrderIntent, mode: Mode, status: str, **fields: object) -> TradeLogged:
    return TradeLogged(intent_id=intent.intent_id, user_id=intent.user_id, exchange=intent.exchange,
                       symbol=intent.symbol, side=intent.side, amount_usd=intent.amount_usd,
                       mode=mode, status=status, source=intent.source,
                       correlation_id=intent.correlation_id, **fields)  # type: ignore[arg-type]


async def _log(ctx: ExecutorContext, line: TradeLogged) -> None:
    if await ctx.ledger.finish(line):
        await ctx.bus.publish(line, streams.TRADES)
        log.info("trade %s %s %s %s %s %s %s", line.mode.value, line.status, line.user_id,
                 line.exchange, line.symbol, tradelog.amounts(line),
                 line.order_id or "; ".join(line.reasons))


async def log_note(ctx: ExecutorContext, user_id: str, status: str, reason: str) -> None:
    """A trade-log line that is not an order (auto-disarm), so the log says why things changed."""
    await ctx.bus.publish(TradeLogged(intent_id=f"note-{new_id()}", user_id=user_id, symbol="-",
                                      side="buy", amount_usd=Decimal(0), mode=Mode.NONE,
                                      status=status, reasons=[reason], source="executor"),
                          streams.TRADES)
