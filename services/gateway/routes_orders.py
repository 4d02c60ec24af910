"""Order and balance routes.

``POST /api/trade`` takes the original client's payload, publishes an ``OrderIntent`` for the
executor (it never places an order itself, so the gates can't be bypassed) and waits, bounded
by ``ApiSettings.reply_timeout_s``, for the intent's trade-log line; on timeout: 202 pending.
``GET /api/balance/{userId}`` answers from the exchange through the gateway's pool.
"""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.gateway import balances
from services.gateway.handlers import runtime
from shared import streams, tradelog
from shared.events import OrderIntent, Side
from shared.exchange import SUPPORTED

router = APIRouter()
POLL_S = 0.05
FAILED = frozenset({"rejected", "failed", "error", "canceled", "expired"})
_STATUS = {"no_credentials": 404, "auth": 403, "invalid_order": 400, "rate_limited": 429, "unavailable": 503}


class TradeBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    user_id: str = Field(alias="userId", min_length=1, max_length=64)
    exchange: str = Field(default="binanceus", min_length=1, max_length=32)
    side: Side = Side.BUY
    symbol: str = Field(default="", max_length=32)
    symbol_ccxt: str = Field(default="", alias="symbolCcxt", max_length=32)
    amount_usd: Decimal = Field(alias="amountUsd", gt=0, max_digits=20, decimal_places=8)


@router.post("/api/trade")
async def trade(body: TradeBody, request: Request) -> JSONResponse:
    symbol = body.symbol_ccxt or body.symbol
    if len(symbol) < 3:
        return JSONResponse({"detail": [{"loc": ["body", "symbol"], "type": "missing",
                                         "msg": "symbol or symbolCcxt is required"}]}, 422)
    ctx = request.app.state.ctx
    intent = OrderIntent(user_id=body.user_id, exchange=body.exchange, symbol=symbol,
                         side=body.side, amount_usd=body.amount_usd, source="api")
    await ctx.bus.publish(intent, streams.INTENTS)
    deadline = time.monotonic() + ctx.api.reply_timeout_s
    while time.monotonic() < deadline:
        lines = await tradelog.read(ctx.bus.redis, intent_id=intent.intent_id, limit=1, scan=2000)
        if lines:
            line = lines[0]
            return JSONResponse({"ok": line.status not in FAILED, "intentId": intent.intent_id,
                                 "mode": line.mode.value, "status": line.status,
                                 "orderId": line.order_id or None, "reasons": line.reasons})
        await asyncio.sleep(POLL_S)
    return JSONResponse({"ok": False, "intentId": intent.intent_id, "mode": None,
                         "status": "pending", "orderId": None,
                         "reasons": ["no outcome yet; look it up with GET /api/trades"]}, 202)


@router.get("/api/balance/{user_id}")
async def balance(user_id: str, request: Request,
                  exchange: str = Query(default="binanceus", max_length=32)) -> JSONResponse:
    if exchange not in SUPPORTED:  # a client error, not a failure of the exchange (502)
        return JSONResponse({"detail": [{"loc": ["query", "exchange"], "type": "enum",
                                         "msg": f"one of {', '.join(SUPPORTED)}"}]}, 422)
    ctx = request.app.state.ctx
    report = await balances.fetch_report(runtime(ctx).pool, ctx.bus.redis, user_id, exchange)
    body = report.model_dump(mode="json")
    if report.ok:
        return JSONResponse(body)
    return JSONResponse(body, status_code=_STATUS.get(report.category, 502))
