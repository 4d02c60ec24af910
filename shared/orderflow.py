"""One ``OrderRequested`` → one ``OrderPlaced`` or ``OrderRejected``.

In order: the executor's live mark; then one Redis call (``CidMarkers.admit``): the kill switch
(the last line of defence: halted claims nothing), the last price and the client order id
marker; the symbol through the exchange's market data, credentials (both cached in the pool);
a seen id or a redelivery is looked up at the exchange first (paged back to the request's
creation time, ``OrderRequested.ts``); the pre-trade checks; and only then one placement
through ``shared.orders``. A lookup that cannot prove the order absent
(``OrderLookupInconclusive``) never leads to a placement: the outcome is ``unknown`` (marker
``unknown``) and the reconciler settles it from the exchange's history; an order already
``done`` is never sent again, whatever a lookup says. Nothing reaches the exchange's order endpoint
before every check passed. A refusal after the claim finishes the marker ``rejected`` with the
refusal in it, so a redelivery answers the same refusal and never places the order.

``decide`` returns the outcome with the marker write; the gateway writes both and the ack in
one MULTI (``services.gateway.intake``); ``handle`` writes the marker itself.

A marker can be missing for an order that was sent: its Redis primary died before a replica
had it (one Redis without replicas, or ``PIGGY_REDIS_WAIT_REPLICAS=0``). So a request that
may have been handled before (``maybe_sent``: a claimed redelivery, or an entry older than
``MAYBE_SENT_AFTER_S``, which is what a failover's lost ack looks like: the entry is read again
as new) is looked up at the exchange by client order id before it is placed, marker or not.

Used by the gateway and by the executor's direct path; the exchange's own ways (its client
order id format, buy by cost, lookup, errors) come from its adapter in ``shared.exchanges``.
The client order id in ``OrderPlaced``/``OrderRejected`` is the one the exchange saw.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis.asyncio as aredis

from shared import state
from shared.cids import CidMarkers, Marker, PlacementInFlight
from shared.events import OrderPlaced, OrderRejected, OrderRequested, RejectCategory
from shared.exchange import UnknownSymbol, to_decimal
from shared.exchanges import UnsupportedExchange, adapter
from shared.exchanges.base import ExchangeAdapter, OrderLookupInconclusive
from shared.exchanges.pool import ExchangePool
from shared.orders import lookup_order, place_order
from shared.placement import Plan, plan_order
from shared.vault import VaultError

log = logging.getLogger("piggy.gateway.orders")
Outcome = OrderPlaced | OrderRejected
# An order request read this long after it was written may have been handled before (a
# failover lost its ack and marker): looked up first. Normally one is read within milliseconds;
# a backlog older than this costs one lookup per request, never a duplicate.
MAYBE_SENT_AFTER_S = 2.0


def maybe_sent(entry_id: str, deliveries: int, now: float) -> bool:
    """Whether the stream entry ``entry_id`` (``<ms>-<seq>``) may have been handled before: a
    redelivery, or written more than ``MAYBE_SENT_AFTER_S`` before ``now`` (seconds)."""
    if deliveries > 1:
        return True
    ms, _, _seq = entry_id.partition("-")
    return not ms.isdigit() or now - int(ms) / 1000 > MAYBE_SENT_AFTER_S


@dataclass
class OrderDeps:
    pool: ExchangePool
    redis: aredis.Redis
    markers: CidMarkers


@dataclass(frozen=True)
class MarkerWrite:
    """The client order id marker to finish with the outcome (only the owner writes one)."""

    cid: str
    state: str  # done | rejected | unknown
    order_id: str = ""
    refused: dict[str, str] | None = None  # a refusal before sending, answered again as is


@dataclass(frozen=True)
class Settled:
    """An outcome and the marker write that goes out with it (in one MULTI at the gateway)."""

    outcome: Outcome
    marker: MarkerWrite | None = None


class _Refused(Exception):
    """Refused before the order was sent; ``exchange_failed``: because the exchange failed
    (market data), which counts as an exchange error, not as the product's own refusal."""

    def __init__(self, category: RejectCategory, message: str, code: str = "", *,
                 exchange_failed: bool = False) -> None:
        super().__init__(message)
        self.category, self.message, self.code = category, message, code
        self.exchange_failed = exchange_failed


@dataclass
class _Run:
    """What one handling learned so far: the market, and the marker value it owns."""

    market: dict[str, Any] | None = None
    mine: str = ""  # this call's "placing" marker value (claimed or taken over)
    fresh: str = ""  # the same, when claimed on first sight: released if this call fails


async def handle(req: OrderRequested, deps: OrderDeps) -> Outcome:
    """``decide`` with the marker written on its own (the executor's direct path)."""
    settled = await decide(req, deps)
    if settled.marker is not None:
        m = settled.marker
        await deps.markers.finish(m.cid, m.state, m.order_id, m.refused)
    return settled.outcome


async def decide(req: OrderRequested, deps: OrderDeps, *, maybe_sent: bool = False) -> Settled:
    """The outcome to publish and the marker to write with it; raises ``PlacementInFlight``
    (retry later) or on Redis errors. Nothing is written here after the order call: the caller
    writes the marker with the outcome (a crash in between leaves ``placing``: looked up)."""
    run = _Run()
    try:
        return await _handle(req, deps, run, maybe_sent)
    except _Refused as refused:
        log.info("order %s refused (%s): %s", req.client_order_id, refused.category.value,
                 refused.message)
        outcome = rejected(req, refused.category, refused.message, refused.code, run.market,
                           sent=refused.exchange_failed)
        if not run.mine:  # not ours: a marker someone else finished (or none) stays as it is
            return Settled(outcome)
        return Settled(outcome, MarkerWrite(req.client_order_id, "rejected",
                                            refused=_refusal(outcome)))
    except PlacementInFlight:
        raise
    except BaseException:
        # Failed before sending a first-sight order: nobody ever sent it, so the redelivery may
        # claim it again at once. A taken-over marker stays (its order is looked up again).
        if run.fresh and run.fresh == run.mine:
            await _release(deps, req.client_order_id, run.fresh)
        raise


async def _release(deps: OrderDeps, cid: str, mine: str) -> None:
    try:
        await deps.markers.release(cid, mine)
    except Exception as exc:  # the marker then goes stale, as before
        log.warning("marker %s not released: %s", cid, type(exc).__name__)


async def _handle(req: OrderRequested, deps: OrderDeps, run: _Run,
                  maybe_sent: bool = False) -> Settled:
    if not req.live:
        raise _Refused(RejectCategory.NOT_LIVE, "the request is not marked live by the executor; "
                       "refused without contacting the exchange", "not_live")
    cid = req.client_order_id
    admitted = await deps.markers.admit(cid, state.price_key(req.exchange, req.symbol))
    if admitted.halted:
        raise _Refused(RejectCategory.NOT_LIVE, "the kill switch is engaged (trading HALTED); "
                       "refused without contacting the exchange", "halted")
    seen, run.mine = admitted.seen, admitted.mine
    run.fresh = admitted.mine
    if seen is not None and seen.state == "rejected" and seen.refused:
        return Settled(_again(req, seen.refused))  # refused before sending: the same answer
    try:
        ex = adapter(req.exchange)
    except UnsupportedExchange as exc:
        raise _Refused(RejectCategory.INVALID_ORDER, str(exc), "unsupported_exchange") from exc
    run.market = market = await _market(req, deps.pool)
    client = await _client(req, deps.pool)
    symbol = market["symbol"]
    sent_as = ex.client_order_id(cid)  # what the exchange sees: valid for that exchange
    if seen is None and maybe_sent:  # claimed, but a lost marker looks the same: ask first
        try:
            found = await deps.pool.read(req.exchange, lambda: lookup_order(
                ex, client, symbol, sent_as, since=req.ts))
        except OrderLookupInconclusive as exc:  # it may be at the exchange: never sent now
            run.mine = ""  # and the marker is never released
            log.warning("order %s: status unknown (%s); not sent", sent_as, exc)
            return Settled(rejected(req, RejectCategory.UNAVAILABLE, f"order status unknown: "
                                    f"{exc}; not sent (the reconciler settles it)",
                                    "status_unknown", market, sent_as), MarkerWrite(cid, "unknown"))
        if found is not None:
            found = await ex.complete(client, symbol, found)
            log.warning("order %s already at the exchange as %s with no marker (lost in a "
                        "failover?); reporting it, not sending it again", sent_as, found["id"])
            return Settled(placed(req, market, found, sent_as),
                           MarkerWrite(cid, "done", str(found["id"])))
    if seen is not None:  # a duplicate or a redelivery: what does the exchange have?
        try:
            found = await deps.pool.read(req.exchange, lambda: lookup_order(
                ex, client, symbol, sent_as, since=req.ts))
        except OrderLookupInconclusive as exc:
            return _unproven(req, deps, seen, market, sent_as, str(exc))
        if found is not None:
            found = await ex.complete(client, symbol, found)
            log.info("order %s already at the exchange as %s; reporting it", sent_as, found["id"])
            return Settled(placed(req, market, found, sent_as),
                           MarkerWrite(cid, "done", str(found["id"])))
        if seen.state == "rejected":  # its refusal is already published: never placed later
            raise _Refused(RejectCategory.UNKNOWN, f"client order id {sent_as} was already "
                           "refused and the exchange has no such order; not re-sent",
                           "already_rejected")
        if seen.state == "done":  # placed once for sure: never again, whatever a lookup says
            return _unproven(req, deps, seen, market, sent_as,
                             "it was placed, but the exchange's history does not show it")
        taken = None if deps.markers.in_flight(seen) else await deps.markers.take_over(cid, seen)
        if taken is None:
            raise PlacementInFlight(f"client order id {cid} is being placed by {seen.by}")
        run.mine = taken
        log.warning("order %s not at the exchange; taking it over from %s (%s)", sent_as,
                    seen.by, seen.state)

    price = state.parse_price(admitted.price) or await _price(req, market, deps)
    plan = await _plan(req, ex, client, market, price, deps)
    run.mine = ""  # from here the order may be at the exchange: the marker is never released
    result = await place_order(ex, client, market, req.side.value, plan, sent_as, since=req.ts)
    if result.outcome == "placed" and result.order is not None:
        deps.pool.note_ok(req.exchange, result.rtt_ms)
        return Settled(placed(req, market, result.order, sent_as, plan.notes),
                       MarkerWrite(cid, "done", result.order_id))
    error = result.error
    assert error is not None
    message = _redact(error.message, deps.pool.redactions(client))
    if result.outcome == "unknown":
        return Settled(rejected(req, RejectCategory.UNAVAILABLE, message, "status_unknown",
                                market, sent_as), MarkerWrite(cid, "unknown"))
    if error.category is RejectCategory.AUTH:
        await deps.pool.evict(req.user_id, req.exchange)
    return Settled(rejected(req, error.category, message, error.code, market, sent_as),
                   MarkerWrite(cid, "rejected"))


def _unproven(req: OrderRequested, deps: OrderDeps, seen: Marker, market: dict[str, Any],
              sent_as: str, why: str) -> Settled:
    """A seen order the exchange could neither show nor prove absent: ``unknown``, not sent.
    While its placer is alive it is still in flight; a ``done`` marker keeps its order id."""
    if seen.state == "placing" and deps.markers.in_flight(seen):
        raise PlacementInFlight(f"client order id {req.client_order_id} is being placed by "
                                f"{seen.by}")
    log.warning("order %s: status unknown (%s); not re-sent", sent_as, why)
    outcome = rejected(req, RejectCategory.UNAVAILABLE, f"order status unknown: {why}; not "
                       "re-sent (the reconciler settles it from the exchange's history)",
                       "status_unknown", market, sent_as)
    marker = None if seen.state == "done" else MarkerWrite(req.client_order_id, "unknown")
    return Settled(outcome, marker)


def _refusal(outcome: OrderRejected) -> dict[str, str]:
    return {"category": outcome.category.value, "code": outcome.code,
            "message": outcome.message, "symbol": outcome.symbol, "symbol_id": outcome.symbol_id,
            "sent": "1" if outcome.sent else ""}


def _again(req: OrderRequested, refused: dict[str, str]) -> OrderRejected:
    """A refusal before sending, as it was first published."""
    try:
        category = RejectCategory(refused.get("category", ""))
    except ValueError:
        category = RejectCategory.UNKNOWN
    outcome = rejected(req, category, refused.get("message", ""), refused.get("code", ""),
                       sent=bool(refused.get("sent")))
    return outcome.model_copy(update={"symbol": refused.get("symbol") or outcome.symbol,
                                      "symbol_id": refused.get("symbol_id", "")})


async def _plan(req: OrderRequested, ex: ExchangeAdapter, client: Any, market: dict[str, Any],
                price: Decimal | None, deps: OrderDeps) -> Plan:
    """The order to send after the exchange's rounding; the user's free quote balance is read
    only when the plan rounds a quantity up (that must stay within the funds)."""
    mode = getattr(client, "precisionMode", 4)
    kw: dict[str, Any] = {"exchange": req.exchange, "min_usd": req.min_usd,
                          "max_usd": req.max_usd}
    plan = plan_order(market, req.side.value, req.amount_usd, price, mode, **kw)
    if plan.ok and plan.kind == "quantity":
        funds = await _free(req, client, market, deps)
        if funds is not None:
            plan = plan_order(market, req.side.value, req.amount_usd, price, mode, funds=funds,
                              **kw)
    if not plan.ok:
        raise _Refused(RejectCategory.INVALID_ORDER, "; ".join(plan.reasons), "pre_trade")
    return plan


async def _free(req: OrderRequested, client: Any, market: dict[str, Any],
                deps: OrderDeps) -> Decimal | None:
    try:
        balance = await deps.pool.read(req.exchange, client.fetch_balance)
    except Exception as exc:
        log.info("no balance for the funds check (%s); left to the exchange", type(exc).__name__)
        return None
    free = (balance.get("free") or {}).get(market.get("quote"))
    return to_decimal(free) if free is not None else None


async def _market(req: OrderRequested, pool: ExchangePool) -> dict[str, Any]:
    try:
        return await pool.market(req.exchange, req.symbol)
    except UnknownSymbol as exc:
        raise _Refused(RejectCategory.INVALID_ORDER, str(exc), "unknown_symbol") from exc
    except ValueError as exc:  # unsupported exchange
        raise _Refused(RejectCategory.INVALID_ORDER, str(exc), "unsupported_exchange") from exc
    except Exception as exc:
        why = adapter(req.exchange).classify(exc)
        raise _Refused(why.category, f"market data unavailable: {why.message}", why.code,
                       exchange_failed=True) from exc


async def _client(req: OrderRequested, pool: ExchangePool) -> Any:
    try:
        return await pool.client(req.user_id, req.exchange)
    except VaultError as exc:
        raise _Refused(RejectCategory.AUTH, f"no usable API keys for {req.user_id} on "
                       f"{req.exchange}", "no_credentials") from exc


async def _price(req: OrderRequested, market: dict[str, Any],
                 deps: OrderDeps) -> Decimal | None:
    """The price when ``admit`` found none under the requested name: under the market's own
    names (tickers write both), else the exchange's ticker."""
    exchange = req.exchange
    for name in {market["symbol"], market["id"]} - {req.symbol}:
        cached = await state.last_price(deps.redis, exchange, name)
        if cached is not None:
            return cached
    try:
        public = await deps.pool.public(exchange)
        ticker = await deps.pool.read(exchange, lambda: public.fetch_ticker(market["symbol"]))
    except Exception as exc:
        log.info("no price for %s (%s); quantity checks left to the exchange",
                 market["symbol"], type(exc).__name__)
        return None
    last = ticker.get("last") or ticker.get("close")
    return to_decimal(last) if last else None


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for s in secrets:
        text = text.replace(s, "***")
    return text


def placed(req: OrderRequested, market: dict[str, Any], order: dict[str, Any],
           sent_as: str = "", notes: tuple[str, ...] = ()) -> OrderPlaced:
    fee = order.get("fee") or {}
    average = order.get("average")
    cost = order.get("cost")
    if cost is None and average and order.get("filled"):
        cost = to_decimal(average) * to_decimal(order.get("filled"))
    return OrderPlaced(
        intent_id=req.intent_id, client_order_id=sent_as or req.client_order_id,
        user_id=req.user_id,
        exchange=req.exchange, symbol=market["symbol"], symbol_id=market["id"],
        order_id=str(order["id"]), status=str(order.get("status") or "unknown"),
        filled=to_decimal(order.get("filled")), cost=to_decimal(cost),
        average=to_decimal(average) if average else None, fee=to_decimal(fee.get("cost")),
        fee_currency=str(fee.get("currency") or ""), notes=list(notes),
        correlation_id=req.correlation_id)


def rejected(req: OrderRequested, category: RejectCategory, message: str, code: str = "",
             market: dict[str, Any] | None = None, sent_as: str = "", *,
             sent: bool = True) -> OrderRejected:
    return OrderRejected(
        intent_id=req.intent_id, client_order_id=sent_as or req.client_order_id,
        user_id=req.user_id,
        exchange=req.exchange, symbol=market["symbol"] if market else req.symbol,
        symbol_id=market["id"] if market else "", category=category, code=code,
        message=message, correlation_id=req.correlation_id, sent=sent)
