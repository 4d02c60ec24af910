"""Order and balance routes.

``POST /api/trade`` takes the original client's payload, checks the exchange and symbol against
the exchange's market data, publishes an ``OrderIntent`` for the executor (it never places an
order itself, so the gates can't be bypassed) and waits, bounded by
``ApiSettings.reply_timeout_s``, for the intent's trade-log line (one blocking read of the
intent's outcome key, then the trade log once: ``shared/outcomes.py``); on timeout: 202
pending.
With ``"mode": "live"`` the intent is live-or-nothing: 200 with the order id when it was placed
live, else 409 with every closed gate's reason (never a paper fill). The answer carries the
trade line itself (``line``); ``waitS`` sets the wait, ``source`` labels the intent
(``piggy test-buy`` comes through this door in both modes).
``GET /api/balance/{userId}`` answers from the exchange through the gateway's pool.
``GET /api/minimum`` is the smallest amount the exchange accepts for a symbol at the current
price (what the dashboard and the CLI offer when $2 is below it), before anything is sent:
fee included where the exchange takes it out of the amount, rounded up to its cost step, with
a stated headroom for the price (``shared.minimums``, ``docs/exchanges.md``). It spends at most
that amount.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.gateway import balances, symbols
from services.gateway.auth import authorize
from services.gateway.handlers import runtime
from shared import outcomes, state, streams, tradelog
from shared.durable import NotReplicated
from shared.events import Mode, OrderIntent, Side, TradeLogged
from shared.exchange import UnknownSymbol, to_decimal
from shared.exchanges import DEFAULT_EXCHANGE, EXCHANGES
from shared.minimums import CENT, pct, rule_for
from shared.placement import offer
from shared.types import Amount, Exchange, Symbol, UserId

router = APIRouter()
TEST_BUY_USD = Decimal(2)
AmountQuery = Annotated[Decimal, Query(alias="amountUsd", gt=0, max_digits=20, decimal_places=8)]
FAILED = frozenset({"rejected", "failed", "error", "canceled", "expired"})
_STATUS = {"no_credentials": 404, "auth": 403, "invalid_order": 400, "rate_limited": 429, "unavailable": 503}


class TradeBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    user_id: UserId = Field(alias="userId")
    exchange: Exchange = "binanceus"
    side: Side = Side.BUY
    symbol: Symbol | None = None
    symbol_ccxt: Symbol | None = Field(default=None, alias="symbolCcxt")
    amount_usd: Amount = Field(alias="amountUsd")
    mode: Literal["live"] | None = Field(
        default=None, description="'live': place it live or refuse (409 naming every closed "
                                  "gate); absent: live when every gate is open, else paper")
    source: Literal["api", "test-buy"] = Field(
        default="api", description="who asks, as the intent's source (metrics, logs, the "
                                   "trade line): 'test-buy' is `piggy test-buy`")
    wait_s: float | None = Field(
        default=None, alias="waitS", gt=0, le=outcomes.MAX_WAIT_S,
        description="seconds to wait for the outcome before answering 202 pending "
                    "(default: the API's PIGGY_REPLY_TIMEOUT_S)")

    @field_validator("symbol", "symbol_ccxt", mode="before")
    @classmethod
    def _empty_is_absent(cls, v: Any) -> Any:
        return None if v == "" else v

    @field_validator("mode", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v


def _error(status: int, error: str, **extra: Any) -> JSONResponse:
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"ok": False, "error": error, "detail": error, **extra}, status, headers)


@router.post("/api/trade")
async def trade(body: TradeBody, request: Request) -> JSONResponse:
    authorize(request, body.user_id)
    symbol = body.symbol_ccxt or body.symbol
    if not symbol:
        return JSONResponse({"ok": False, "error": "symbol: symbol or symbolCcxt is required",
                             "detail": [{"field": "symbol", "loc": ["body", "symbol"],
                                         "type": "missing",
                                         "msg": "symbol or symbolCcxt is required"}]}, 422)
    ctx = request.app.state.ctx
    checked = await symbols.check(runtime(ctx), ctx.bus.redis, body.exchange, symbol)
    if checked.error:
        return _error(checked.status, checked.error, closeMatches=list(checked.close))
    live_only = body.mode == "live"
    intent = OrderIntent(user_id=body.user_id, exchange=body.exchange, symbol=checked.symbol,
                         side=body.side, amount_usd=body.amount_usd, source=body.source,
                         live_only=live_only)
    try:
        await ctx.bus.publish_durable(intent, streams.INTENTS)
    except NotReplicated as exc:  # behind Sentinel: no replica confirmed it (a failover?)
        return _error(503, f"the intent was not confirmed by a Redis replica ({exc}); it may "
                      f"still run: look it up (GET /api/trades) before retrying",
                      intentId=intent.intent_id)
    line = await outcomes.wait(ctx.bus.redis, intent.intent_id,
                               body.wait_s or ctx.api.reply_timeout_s)
    if line is None:
        return JSONResponse({"ok": False, "intentId": intent.intent_id, "mode": None,
                             "status": "pending", "orderId": None,
                             "correlationId": intent.correlation_id,
                             "reasons": ["no outcome yet; look it up with GET /api/trades"]}, 202)
    ok = line.status not in FAILED
    answer = {"ok": ok, "intentId": intent.intent_id, "mode": line.mode.value,
              "status": line.status, "orderId": line.order_id or None,
              "reasons": line.reasons, **_amounts(line),
              "correlationId": line.correlation_id, "line": line.model_dump(mode="json")}
    if live_only and not (ok and line.mode is Mode.LIVE):
        return JSONResponse({**answer, "ok": False,
                             "error": "not placed live: " + ("; ".join(line.reasons)
                                                             or line.status)}, 409)
    return JSONResponse(answer)


def _amounts(line: TradeLogged) -> dict[str, object]:
    """What was asked and what happened: filled quantity, cost actually spent, fee."""
    return {"exchange": line.exchange, "symbol": line.symbol,
            "requestedUsd": format(line.amount_usd, "f"), "filled": format(line.filled, "f"),
            "cost": format(line.cost, "f"), "fee": format(line.fee, "f"),
            "feeCurrency": line.fee_currency, "clientOrderId": line.client_order_id or None,
            "summary": tradelog.amounts(line)}


@router.get("/api/minimum")
async def minimum(request: Request, exchange: str = Query(default=DEFAULT_EXCHANGE, max_length=32),
                  symbol: str = Query(default="BTC/USDT", max_length=32),
                  amount_usd: AmountQuery = TEST_BUY_USD) -> JSONResponse:
    if exchange not in EXCHANGES:
        return JSONResponse({"detail": [{"loc": ["query", "exchange"], "type": "enum",
                                         "msg": f"one of {', '.join(EXCHANGES)}"}]}, 422)
    ctx = request.app.state.ctx
    pool = runtime(ctx).pool
    try:
        market = await pool.market(exchange, symbol)
        price = await state.last_price(ctx.bus.redis, exchange, market["symbol"])
        if price is None:
            public = await pool.public(exchange)
            ticker = await pool.read(exchange, lambda: public.fetch_ticker(market["symbol"]))
            price = to_decimal(ticker.get("last") or ticker.get("close"))
    except UnknownSymbol as exc:
        return JSONResponse({"ok": False, "error": "unknown_symbol", "detail": str(exc),
                             "symbol": symbol, "exchange": exchange,
                             "closeMatches": list(exc.close)}, 404)
    except Exception as exc:
        return JSONResponse({"detail": f"{exchange} market data unavailable: "
                                       f"{type(exc).__name__}"}, 503)
    public = await pool.public(exchange)
    mode = getattr(public, "precisionMode", 4)
    found, why = offer(market, price, exchange=exchange, precision_mode=mode)
    # "enough": the amount itself is what the offer's rule accepts, at up to the same headroom
    rule = rule_for(exchange, market, mode)
    enough = amount_usd >= found.amount or not (
        rule.refusal(amount_usd, found.price_up_to) or rule.refusal(amount_usd, price)
        or amount_usd != rule.sent(amount_usd))
    return JSONResponse({"exchange": exchange, "symbol": market["symbol"],
                         "price": format(price, "f"), "minimumUsd": format(found.amount, "f"),
                         "spendsAtMostUsd": format(found.amount, "f"),
                         "headroomPct": pct(found.headroom),
                         "validUpToPrice": format(found.price_up_to.quantize(CENT), "f"),
                         "feeRate": format(rule.fee_rate, "f"),
                         "feeFromAmount": rule.fee_in_quote,
                         "amountUsd": format(amount_usd, "f"), "enough": enough,
                         "explanation": why,
                         "reason": "" if enough else f"{why}; ${amount_usd} is below it"})


@router.get("/api/balance/{user_id}")
async def balance(user_id: Annotated[UserId, Path()], request: Request,
                  exchange: Annotated[Exchange, Query()] = "binanceus") -> JSONResponse:
    authorize(request, user_id)
    ctx = request.app.state.ctx
    served = runtime(ctx).exchanges
    if exchange not in served:  # a client error, not a failure of the exchange (502)
        return _error(422, f"exchange {exchange!r} is not served by this gateway "
                           f"(serves: {', '.join(served)})")
    report = await balances.fetch_report(runtime(ctx).pool, ctx.bus.redis, user_id, exchange)
    body = report.model_dump(mode="json")
    if report.ok:
        return JSONResponse(body)
    status = _STATUS.get(report.category, 502)
    return JSONResponse(body, status_code=status,
                        headers={"Retry-After": "5"} if status in (429, 503) else None)
