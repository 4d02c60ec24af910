"""One ``OrderRequested`` → one ``OrderPlaced`` or ``OrderRejected``.

In order: the executor's live mark, the kill switch (the last line of defence), the symbol
through the exchange's market data, credentials, the pre-trade checks, then the client order
id marker (a seen id or a redelivery is looked up first), and only then one placement through
``shared.orders``. Nothing reaches the exchange's order endpoint before every check passed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis.asyncio as aredis

from services.gateway.cids import CidMarkers, PlacementInFlight
from services.gateway.exchanges import ExchangePool
from services.gateway.placement import check_order
from shared import state
from shared.events import OrderPlaced, OrderRejected, OrderRequested, RejectCategory
from shared.exchange import UnknownSymbol, to_decimal
from shared.exchange_errors import classify
from shared.orders import lookup_order, place_order
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
    market = await _market(req, deps.pool)
    resolved.append(market)
    client = await _client(req, deps.pool)
    price = await _price(req.exchange, market, deps)
    decision = check_order(market, req.side.value, req.amount_usd, price,
                           getattr(client, "precisionMode", 4))
    if not decision.ok:
        raise _Refused(RejectCategory.INVALID_ORDER, "; ".join(decision.reasons), "pre_trade")

    symbol, cid = market["symbol"], req.client_order_id
    seen = await deps.markers.claim(cid)
    if seen is not None:  # a duplicate or a redelivery: what does the exchange have?
        found = await deps.pool.read(req.exchange, lambda: lookup_order(client, symbol, cid))
        if found is not None:
            await deps.markers.finish(cid, "done", str(found["id"]))
            log.info("order %s already at the exchange as %s; reporting it", cid, found["id"])
            return placed(req, market, found)
        if deps.markers.in_flight(seen) or not await deps.markers.take_over(cid, seen):
            raise PlacementInFlight(f"client order id {cid} is being placed by {seen.by}")

    result = await place_order(client, market, req.side.value, req.amount_usd, cid)
    if result.outcome == "placed" and result.order is not None:
        deps.pool.note_ok(req.exchange, result.rtt_ms)
        await deps.markers.finish(cid, "done", result.order_id)
        return placed(req, market, result.order)
    error = result.error
    assert error is not None
    message = _redact(error.message, deps.pool.redactions(client))
    if result.outcome == "unknown":
        await deps.markers.finish(cid, "unknown")
        return rejected(req, RejectCategory.UNAVAILABLE, message, "status_unknown", market)
    await deps.markers.finish(cid, "rejected")
    if error.category is RejectCategory.AUTH:
        await deps.pool.evict(req.user_id, req.exchange)
    return rejected(req, error.category, message, error.code, market)


async def _market(req: OrderRequested, pool: ExchangePool) -> dict[str, Any]:
    try:
        return await pool.market(req.exchange, req.symbol)
    except UnknownSymbol as exc:
        raise _Refused(RejectCategory.INVALID_ORDER, str(exc), "unknown_symbol") from exc
    except ValueError as exc:  # unsupported exchange
        raise _Refused(RejectCategory.INVALID_ORDER, str(exc), "unsupported_exchange") from exc
    except Exception as exc:
        why = classify(exc)
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


def placed(req: OrderRequested, market: dict[str, Any], order: dict[str, Any]) -> OrderPlaced:
    fee = order.get("fee") or {}
    average = order.get("average")
    return OrderPlaced(
        intent_id=req.intent_id, client_order_id=req.client_order_id, user_id=req.user_id,
        exchange=req.exchange, symbol=market["symbol"], symbol_id=market["id"],
        order_id=str(order["id"]), status=str(order.get("status") or "unknown"),
        filled=to_decimal(order.get("filled")), cost=to_decimal(order.get("cost")),
        average=to_decimal(average) if average else None, fee=to_decimal(fee.get("cost")),
        fee_currency=str(fee.get("currency") or ""), correlation_id=req.correlation_id)


def rejected(req: OrderRequested, category: RejectCategory, message: str, code: str = "",
             market: dict[str, Any] | None = None) -> OrderRejected:
    return OrderRejected(
        intent_id=req.intent_id, client_order_id=req.client_order_id, user_id=req.user_id,
        exchange=req.exchange, symbol=market["symbol"] if market else req.symbol,
        symbol_id=market["id"] if market else "", category=category, code=code,
        message=message, correlation_id=req.correlation_id)
