"""``GET /api/positions/{user}``: the user's positions from the books (FIFO lots), valued at
the last price the gateway keeps for each market (the ticker loop's cached price; a market
with none has no value and no unrealized PnL — null, never a made-up 0), and ``history``:
the holdings value against the money put in at each fill and now (the dashboard's chart).

Same scope as the other per-user routes: the operator or the user's own token. A user the
books and the vault know nothing of is a 404 naming the user; a books database that cannot
be read is a 503 naming the cause.
"""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.gateway.auth import authorize
from services.gateway.routes_trades import _has_credentials
from shared import state
from shared.books import holdings
from shared.books.db import describe
from shared.books.positions import METHOD, compute, history
from shared.types import UserId

router = APIRouter()
# extras key: PIGGY_RECONCILE_COUNT_EXTERNAL, read at start-up (orders placed outside
# CryptoPiggy count in positions)
COUNT_EXTERNAL = "count_external"


@router.get("/api/positions/{user_id}")
async def positions(request: Request, user_id: UserId) -> JSONResponse:
    """Quantity, cost with fees, average price, realized and unrealized PnL per exchange,
    asset and mode."""
    who = authorize(request, user_id)
    ctx = request.app.state.ctx
    try:
        found, known = await asyncio.to_thread(
            partial(holdings.read, ctx.books, user_id,
                    include_external=bool(ctx.extras.get(COUNT_EXTERNAL))))
    except Exception as exc:  # the books database is down or not created yet
        return JSONResponse({"ok": False, "detail": f"positions unavailable: books database: "
                                                    f"{describe(exc)}"}, 503,
                            headers={"Retry-After": "5"})
    if not known and who.user_id != user_id and not await _has_credentials(ctx.vault, user_id):
        return JSONResponse({"ok": False, "userId": user_id,
                             "detail": f"unknown user {user_id!r}: no trades, no credentials"},
                            404)
    prices: dict[holdings.PriceKey, Decimal | None] = {}
    for exchange, asset, quote in holdings.price_keys(found):
        prices[(exchange, asset, quote)] = await state.last_price(
            ctx.bus.redis, exchange, f"{asset}/{quote}")
    now = datetime.now(UTC)
    priced = holdings.prices_for(prices, prices)
    try:
        books = compute(found, priced)
        points = history(found, now, priced)
    except ValueError as exc:  # a journal row no position can be made of: say which
        return JSONResponse({"ok": False, "userId": user_id,
                             "detail": f"positions unavailable: {exc}"}, 409)
    return JSONResponse({"userId": user_id, "method": METHOD, "at": now.isoformat(),
                         "positions": [holdings.position_json(p) for p in books.positions],
                         "history": [holdings.point_json(p) for p in points]})
