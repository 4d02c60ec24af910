"""Executor handlers: a batch of entries → one ledger ``intake`` call → the pure core per
entry → one ``commit`` call with every effect and the acks.

Exactly once: the intent id is claimed in the ledger before anything else; the outcome is
recorded once, with its trade line, in the same script step, so a redelivered or
re-published intent is answered from the ledger. The live reservation (kill switch, armed,
credentials, heartbeat, daily cap) is taken in the intake call, atomically with the reads
the decision is made from, so an emergency stop stops intents read but not yet routed.
"""
from __future__ import annotations

import logging
from decimal import Decimal

from services.executor import intake, routing
from services.executor.context import ExecutorContext
from services.executor.intake import Action, Plan
from services.executor.ledger import IntakeRequest, IntakeRow, Reservation, RouteFrames, Writes
from services.executor.lifecycle import (
    IntentRecord,
    IntentStatus,
    OutcomeAction,
    plan_outcome,
)
from services.executor.risk import spend_key, to_micros
from services.executor.routing import Route
from shared import paperfill, state, streams, tradelog
from shared.bus import Batch, frame
from shared.events import (
    DeadLetter,
    IntentAccepted,
    IntentRejected,
    Mode,
    OrderIntent,
    OrderPlaced,
    OrderRejected,
    OrderRequested,
    TradeLogged,
    TradeStatus,
    new_id,
)
from shared.observe import observe_published

log = logging.getLogger("piggy.executor")

STATUS_UNKNOWN = "status_unknown"  # the gateway's code: placement ambiguous, lookup failed
ROUTED_CACHE = 50_000
MARKET_RULES_CACHE = 10_000


async def on_intents(ctx: ExecutorContext, batch: Batch) -> None:
    """Order intents, a batch at a time."""
    w = Writes()
    await _dead_letters(ctx, w, batch)
    s = ctx.settings
    now, day = ctx.clock(), ctx.now()
    intents: list[OrderIntent] = [event for _, event in batch.events]
    live = {i.intent_id: _routing(ctx, i) for i in intents if intake.static_live(i, s)}
    entries = {i.intent_id: e for e, i in batch.events}
    read = await ctx.ledger.intake(
        ctx.bus.consumer, now, s.heartbeat_max_age_s, ctx.direct is not None,
        to_micros(s.daily_cap_usd),
        [IntakeRequest(i.intent_id, i.model_dump_json(), state.armed_field(i.user_id, i.exchange),
                       state.cred_status_key(i.user_id, i.exchange), spend_key(i.user_id, day),
                       state.price_key(i.exchange, i.symbol), batch.deliveries > 1,
                       i.intent_id in live, to_micros(i.amount_usd),
                       _frames(live[i.intent_id], now + s.outcome_timeout_s,
                               entries[i.intent_id] if batch.group else "")
                       if i.intent_id in live else None, i.await_outcome) for i in intents],
        batch.stream, batch.group) if intents else None
    direct: list[OrderRequested] = []
    sent: set[str] = set()  # acknowledged by the intake step that routed them
    for (entry_id, intent), row in zip(batch.events, read.rows if read else [], strict=True):
        assert read is not None
        if row.reservation is Reservation.SENT:
            sent.add(entry_id)
        try:
            p = intake.plan(read, row, intent, s, now, direct_configured=ctx.direct is not None)
            await _write_intent(ctx, w, intent, row, p, now, direct, live.get(intent.intent_id))
        except Exception as exc:  # a bug for this entry must not hold up its batch
            log.exception("intent %s could not be handled", intent.intent_id)
            await _dead_letter(ctx, w, batch, entry_id, intent.model_dump_json(),
                               f"handler: {type(exc).__name__}: {exc}")
    w.ack(batch.stream, batch.group, [e for e in batch.ack_ids if e not in sent])
    await _commit(ctx, w)
    for request in direct:
        await on_order_events(ctx, Batch(streams.ORDER_EVENTS, "", [("", await ctx.direct.place(request))]))


async def _write_intent(ctx: ExecutorContext, w: Writes, intent: OrderIntent, row: IntakeRow,
                        p: Plan, now: float, direct: list[OrderRequested],
                        routing_events: tuple[IntentAccepted, OrderRequested] | None) -> None:
    if p.action is Action.SKIP:
        log.info("intent %s seen again (%s); not handled twice", intent.intent_id, p.why)
        return
    if p.unroute:
        w.unroute(intent.intent_id)
    if p.action is Action.LIVE and p.sent:  # routed by the intake step: observed only
        if p.why:
            log.error("intent %s: %s", intent.intent_id, p.why)
        accepted, request = routing_events or _routing(ctx, intent)
        w.published += [(streams.DECISIONS, accepted), (streams.ORDER_REQUESTS, request)]
        _remember(ctx, intent)
        return
    if p.action is Action.LIVE:
        assert p.route is not None
        first = _steps(w, intent.intent_id, row.status, IntentStatus.ROUTED)
        if first:
            w.xadd(streams.DECISIONS,
                IntentAccepted(intent_id=intent.intent_id, user_id=intent.user_id, mode=Mode.LIVE,
                               route=p.route.value, correlation_id=intent.correlation_id))
        else:
            log.warning("intent %s redelivered after routing; asking the gateway again",
                        intent.intent_id)
        w.inflight(intent.intent_id, now + ctx.settings.outcome_timeout_s)
        request = order_request(ctx, intent)
        _remember(ctx, intent)
        if p.route is Route.GATEWAY:
            w.xadd(streams.ORDER_REQUESTS, request)
        else:
            direct.append(request)
        return
    assert p.decision is not None
    _steps(w, intent.intent_id, row.status, IntentStatus.DECIDED)
    if p.action is Action.PAPER:
        assert p.price is not None
        fill = await _paper_fill(ctx, intent, p.price)
        w.xadd(streams.DECISIONS,
            IntentAccepted(intent_id=intent.intent_id, user_id=intent.user_id, mode=Mode.PAPER,
                           route="paper", correlation_id=intent.correlation_id))
        await _finish(ctx, w, IntentStatus.PAPER_FILLED, line(
            intent, Mode.PAPER, TradeStatus.FILLED, order_id=f"paper-{intent.intent_id}",
            price=fill.price, filled=fill.filled, cost=fill.cost, fee=fill.fee,
            fee_currency=fill.fee_currency, reasons=p.decision.reasons + list(fill.notes),
            route="paper"))
        return
    reasons = ((p.decision.reasons + list(p.extra_reasons))
               or ["no route to the exchange: gateway down and no direct path"])
    w.xadd(streams.DECISIONS,
        IntentRejected(intent_id=intent.intent_id, user_id=intent.user_id, reasons=reasons,
                       correlation_id=intent.correlation_id))
    await _finish(ctx, w, IntentStatus.REJECTED, line(intent, Mode.NONE, TradeStatus.REJECTED,
                                                       reasons=reasons, route="none"))


async def _paper_fill(ctx: ExecutorContext, intent: OrderIntent,
                      price: Decimal) -> paperfill.PaperFill:
    """The fill the exchange would give this intent live: its market's fee and rounding rules
    as the gateway keeps them (``shared.paperfill``), else the exchange's fee schedule."""
    where = (intent.exchange, intent.symbol)
    rules = ctx.market_rules.get(where)
    if rules is None:
        text = await state.market_rules(ctx.bus.redis, *where)
        try:
            rules = paperfill.MarketRules.from_json(text) if text else None
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("market rules of %s on %s unreadable (%s); fee schedule used",
                        intent.symbol, intent.exchange, exc)
        if rules is not None:
            if len(ctx.market_rules) >= MARKET_RULES_CACHE:
                ctx.market_rules.pop(next(iter(ctx.market_rules)))
            ctx.market_rules[where] = rules
    if rules is None:
        log.info("no market rules kept for %s on %s; paper fee by %s's schedule",
                 intent.symbol, intent.exchange, intent.exchange)
    s = ctx.settings
    return paperfill.fill(rules or paperfill.default_rules(*where), intent.side.value,
                          intent.amount_usd, price, min_usd=s.min_trade_usd,
                          max_usd=s.max_trade_usd)


def _steps(w: Writes, intent_id: str, current: IntentStatus | None,
           target: IntentStatus) -> bool:
    """The status writes from ``current`` to ``target`` along the lifecycle; False when the
    intent is already there (a redelivery: nothing new to announce)."""
    path = [IntentStatus.DECIDED, IntentStatus.ROUTED]
    path = path[:path.index(target) + 1]
    todo = path[path.index(current) + 1:] if current in path else path
    for status in todo:
        w.status(intent_id, status)
    return bool(todo)


async def on_order_events(ctx: ExecutorContext, batch: Batch) -> None:
    """The gateway's answers (``OrderPlaced``/``OrderRejected``), a batch at a time."""
    w = Writes()
    await _dead_letters(ctx, w, batch)
    events: list[OrderPlaced | OrderRejected] = [event for _, event in batch.events]
    missing = [e.intent_id for e in events if e.intent_id not in ctx.routed]
    fetched = dict(zip(missing, await ctx.ledger.get_many(missing), strict=True)) if missing else {}
    now = ctx.clock()
    for event in events:
        cached = ctx.routed.get(event.intent_id)
        record = (IntentRecord(status=IntentStatus.ROUTED, intent=cached) if cached is not None
                  else fetched.get(event.intent_id))
        await _write_outcome(ctx, w, event, record, now)
    if batch.group:
        w.ack(batch.stream, batch.group, batch.ack_ids)
    await _commit(ctx, w)


async def _write_outcome(ctx: ExecutorContext, w: Writes, event: OrderPlaced | OrderRejected,
                         record: IntentRecord | None, now: float) -> None:
    placed = isinstance(event, OrderPlaced)
    unknown = isinstance(event, OrderRejected) and event.code == STATUS_UNKNOWN
    p = plan_outcome(record, placed=placed, status_unknown=unknown, rounds_left=True)
    if p.action is OutcomeAction.IGNORE:
        level = logging.WARNING if record is None or record.status is not IntentStatus.PLACED \
            or not placed else logging.INFO
        log.log(level, "order outcome %s for intent %s ignored: %s", event.type, event.intent_id,
                p.why)
        return
    assert record is not None and record.intent is not None
    intent = record.intent
    if p.action is OutcomeAction.LOOKUP:
        assert isinstance(event, OrderRejected)
        wait = min(0.25 * (record.lookups + 1), 2.0)
        log.warning("order for intent %s has unknown status; looking it up again in %.2fs",
                    intent.intent_id, wait)
        w.inflight(intent.intent_id, now + wait, event.message[:500])
        return
    assert p.status is not None
    if isinstance(event, OrderPlaced):
        trade = line(intent, Mode.LIVE, TradeStatus.from_exchange(event.status),
                     order_id=event.order_id, client_order_id=event.client_order_id,
                     price=event.average, filled=event.filled, cost=event.cost, fee=event.fee,
                     fee_currency=event.fee_currency, reasons=event.notes, route=event.route)
    else:
        trade = line(intent, Mode.LIVE, TradeStatus.REJECTED, client_order_id=event.client_order_id,
                     reasons=[f"{event.category.value}: {event.message}"], route=event.route)
    await _finish(ctx, w, p.status, trade, release=p.release)
    ctx.routed.pop(intent.intent_id, None)


def _routing(ctx: ExecutorContext, intent: OrderIntent) -> tuple[IntentAccepted, OrderRequested]:
    """The decision and the order request of routing ``intent`` to the gateway."""
    return (IntentAccepted(intent_id=intent.intent_id, user_id=intent.user_id, mode=Mode.LIVE,
                           route=Route.GATEWAY.value, correlation_id=intent.correlation_id),
            order_request(ctx, intent))


def _frames(events: tuple[IntentAccepted, OrderRequested], deadline: float,
            entry_id: str) -> RouteFrames:
    return RouteFrames(frame(events[0]), frame(events[1]), deadline, entry_id)


def order_request(ctx: ExecutorContext, intent: OrderIntent) -> OrderRequested:
    return OrderRequested(
        intent_id=intent.intent_id, client_order_id=routing.client_order_id(intent.intent_id),
        user_id=intent.user_id, exchange=intent.exchange, symbol=intent.symbol, side=intent.side,
        amount_usd=intent.amount_usd, live=True, requested_by=ctx.bus.consumer,
        min_usd=ctx.settings.min_trade_usd, max_usd=ctx.settings.max_trade_usd,
        correlation_id=intent.correlation_id)


def line(intent: OrderIntent, mode: Mode, status: TradeStatus, **fields: object) -> TradeLogged:
    return TradeLogged(intent_id=intent.intent_id, user_id=intent.user_id, exchange=intent.exchange,
                       symbol=intent.symbol, side=intent.side, amount_usd=intent.amount_usd,
                       mode=mode, status=status, source=intent.source,
                       correlation_id=intent.correlation_id, **fields)


async def _finish(ctx: ExecutorContext, w: Writes, status: IntentStatus, trade: TradeLogged, *,
                  release: bool = False) -> None:
    body = trade.model_dump_json()
    w.finish(trade.intent_id, status, body, streams.TRADES, streams.maxlen(streams.TRADES),
             frame(trade, body), release=release)
    w.lines[trade.intent_id] = trade


async def _commit(ctx: ExecutorContext, w: Writes) -> None:
    results = await ctx.ledger.commit(w.ops)
    published = list(w.published)
    for what, ok in zip(w.results, results, strict=True):
        kind, intent_id = what.split(":", 1)
        if kind == "finish" and ok:
            trade = w.lines[intent_id]
            published.append((streams.TRADES, trade))
            if log.isEnabledFor(logging.INFO):
                log.info("trade %s %s %s %s %s %s %s", trade.mode.value, trade.status.value,
                         trade.user_id, trade.exchange, trade.symbol, tradelog.amounts(trade),
                         trade.order_id or "; ".join(trade.reasons))
        elif kind == "status" and not ok:
            log.warning("intent %s: status step refused by the lifecycle (already further on)",
                        intent_id)
    for stream, event in published:  # counted and logged as faststream's publish would be
        observe_published(ctx.bus.observer, stream, event)


def _remember(ctx: ExecutorContext, intent: OrderIntent) -> None:
    if len(ctx.routed) >= ROUTED_CACHE:
        ctx.routed.pop(next(iter(ctx.routed)))
    ctx.routed[intent.intent_id] = intent


async def _dead_letters(ctx: ExecutorContext, w: Writes, batch: Batch) -> None:
    for entry_id, body, reason in batch.bad:
        await _dead_letter(ctx, w, batch, entry_id, body, reason)


async def _dead_letter(ctx: ExecutorContext, w: Writes, batch: Batch, entry_id: str,
                       body: bytes | str, reason: str) -> None:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    log.warning("dead-lettered %s entry %s (%s): %s", batch.stream, entry_id, batch.group, reason)
    w.xadd(streams.DEAD_LETTER,
        DeadLetter(stream=batch.stream, group=batch.group, entry_id=entry_id, reason=reason,
                   body=text[:2000]))


async def log_note(ctx: ExecutorContext, user_id: str, status: str, reason: str) -> None:
    """A trade-log line that is not an order (auto-disarm), so the log says why things changed."""
    await ctx.bus.publish(TradeLogged(intent_id=f"note-{new_id()}", user_id=user_id, symbol="-",
                                      side="buy", amount_usd=Decimal(0), mode=Mode.NONE,
                                      status=TradeStatus(status), reasons=[reason],
                                      source="executor"),
                          streams.TRADES)
