"""One ``OrderRequested`` → one ``OrderPlaced`` or ``OrderRejected``.

In order: the executor's live mark, the kill switch (the last line of defence), the symbol
through the exchange's market data, credentials, the pre-trade checks, then the client order
id marker (a seen id or a redelivery is looked up first), and only then one placement through
``shared.orders``. Nothing reaches the exchange's order endpoint before every check passed.

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
from shared.cids import CidMarkers, PlacementInFlight
from shared.events import OrderPlaced, OrderRejected, OrderRequested, RejectCategory
from shared.exchange import UnknownSymbol, to_decimal
from shared.exchanges import UnsupportedExchange, adapter
from shared.exchanges.base import ExchangeAdapter
from shared.exchanges.pool import ExchangePool
from shared.orders import lookup_order, place_order
from shared.placement import Plan, plan_order
from shared.vault import VaultError

log = logging.getLogger("piggy.gateway.orders")
Outcome = OrderPlaced | OrderRejected


@dataclass
class OrderDeps:
    pool: ExchangePool
    redis: aredis.Redis
    markers: CidMarkers


class _Refused(Exception):
    def __init__(self, category: RejectCategory, message: str, code: str = "") -> None:
        super().__init__(message)
        self.category, self.message, self.code = category, message, code


async def handle(req: OrderRequested, deps: OrderDeps) -> Outcome:
    """The outcome to publish; raises ``PlacementInFlight`` (retry later) or on Redis errors."""
    resolved: list[dict[str, Any]] = []
    try:
        return await _handle(req, deps, resolved)
    except _Refused as refused:
        log.info("order %s refused (%s): %s", req.client_order_id, refused.category.value,
                 refused.message)
        return rejected(req, refused.category, refused.message, refused.code,
                        resolved[0] if resolved else None)


async def _handle(req: OrderRequested, deps: OrderDeps, resolved: list[dict[str, Any]]) -> Outcome:
    if not req.live:
        raise _Refused(RejectCategory.NOT_LIVE, "the request is not marked live by the executor; "
                       "refused without contacting the exchange", "not_live")
    if await state.trading_state(deps.redis) is state.TradingState.HALTED:
        raise _Refused(RejectCategory.NOT_LIVE, "the kill switch is engaged (trading HALTED); "
                       "refused without contacting the exchange", "halted")
    try:
        ex = adapter(req.exchange)
    except UnsupportedExchange as exc:
        raise _Refused(RejectCategory.INVALID_ORDER, str(exc), "unsupported_exchange") from exc
    market = await _market(req, deps.pool)
    resolved.append(market)
    client = await _client(req, deps.pool)
    price = await _price(req.exchange, market, deps)
    plan = await _plan(req, ex, client, market, price, deps)

    symbol, cid = market["symbol"], req.client_order_id
    sent_as = ex.client_order_id(cid)  # what the exchange sees: valid for that exchange
    seen = await deps.markers.claim(cid)
    if seen is not None:  # a duplicate or a redelivery: what does the exchange have?
        found = await deps.pool.read(req.exchange,
                                     lambda: lookup_order(ex, client, symbol, sent_as))
        if found is not None:
            found = await ex.complete(client, symbol, found)
            await deps.markers.finish(cid, "done", str(found["id"]))
            log.info("order %s already at the exchange as %s; reporting it", sent_as, found["id"])
            return placed(req, market, found, sent_as)
        if seen.state == "rejected":  # its refusal is already published: never placed later
            raise _Refused(RejectCategory.UNKNOWN, f"client order id {sent_as} was already "
                           "refused and the exchange has no such order; not re-sent",
                           "already_rejected")
        if deps.markers.in_flight(seen) or not await deps.markers.take_over(cid, seen):
            raise PlacementInFlight(f"client order id {cid} is being placed by {seen.by}")
        log.warning("order %s not at the exchange; taking it over from %s (%s)", sent_as,
                    seen.by, seen.state)

    result = await place_order(ex, client, market, req.side.value, plan, sent_as)
    if result.outcome == "placed" and result.order is not None:
        deps.pool.note_ok(req.exchange, result.rtt_ms)
        await deps.markers.finish(cid, "done", result.order_id)
        return placed(req, market, result.order, sent_as, plan.notes)
    error = result.error
    assert error is not None
    message = _redact(error.message, deps.pool.redactions(client))
    if result.outcome == "unknown":
        await deps.markers.finish(cid, "unknown")
        return rejected(req, RejectCategory.UNAVAILABLE, message, "status_unknown", market,
                        sent_as)
    await deps.markers.finish(cid, "rejected")
    if error.category is RejectCategory.AUTH:
        await deps.pool.evict(req.user_id, req.exchange)
    return rejected(req, error.category, message, error.code, market, sent_as)


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
        raise _Refused(why.category, f"market data unavailable: {why.message}", why.code) from exc


async def _client(req: OrderRequested, pool: ExchangePool) -> Any:
    try:
        return await pool.client(req.user_id, req.exchange)
    except VaultError as exc:
        raise _Refused(RejectCategory.AUTH, f"no usable API keys for {req.user_id} on "
                       f"{req.exchange}", "no_credentials") from exc


async def _price(exchange: str, market: dict[str, Any], deps: OrderDeps) -> Decimal | None:
    cached = await state.last_price(deps.redis, exchange, market["symbol"])
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
             market: dict[str, Any] | None = None, sent_as: str = "") -> OrderRejected:
    return OrderRejected(
        intent_id=req.intent_id, client_order_id=sent_as or req.client_order_id,
        user_id=req.user_id,
        exchange=req.exchange, symbol=market["symbol"] if market else req.symbol,
        symbol_id=market["id"] if market else "", category=category, code=code,
        message=message, correlation_id=req.correlation_id)
