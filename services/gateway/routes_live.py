"""Live switch and emergency stop routes (the trade history: ``routes_trades.py``).

Arm/disarm/status are commands answered by the executor over the bus (it owns the gates); each
is for one (user, exchange) — a disarm without an exchange disarms the user everywhere;
the emergency stop is set here directly in Redis, so it works even when no executor answers.
"""
from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.auth import authorize, operator_only
from shared import state, streams
from shared.events import (
    ArmLive,
    DisarmLive,
    KillSwitchEngaged,
    KillSwitchReleased,
    LiveStatus,
    QueryLive,
)
from shared.streams import COMMANDS
from shared.types import Exchange, UserId

router = APIRouter()


class ArmBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    user_id: UserId = Field(alias="userId")
    exchange: Exchange = "binanceus"
    confirm_token: str = Field(default="", alias="confirmToken", max_length=256)


class UserBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")
    user_id: UserId = Field(alias="userId")
    exchange: Exchange | None = Field(
        default=None, description="the exchange to disarm; absent: every exchange (the answer "
                                  "then shows binanceus's gates)")


class KillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="emergency stop", max_length=500)
    by: str = Field(default="api", max_length=64)


async def _ask_executor(request: Request, command: ArmLive | DisarmLive | QueryLive) -> LiveStatus:
    ctx = request.app.state.ctx
    try:
        reply = await ctx.bus.broker.request(
            command.model_dump(mode="json"), stream=COMMANDS, timeout=ctx.api.reply_timeout_s,
            correlation_id=command.correlation_id,
        )
    except TimeoutError as exc:
        raise HTTPException(503, detail="the executor did not answer: is it running?") from exc
    return LiveStatus.model_validate(await reply.decode())


@router.post("/api/live/arm")
async def arm(body: ArmBody, request: Request) -> LiveStatus:
    authorize(request, body.user_id)
    digest = hashlib.sha256(body.confirm_token.encode()).hexdigest() if body.confirm_token else ""
    return await _ask_executor(request, ArmLive(user_id=body.user_id, exchange=body.exchange,
                                                confirm_token_sha256=digest))


@router.post("/api/live/disarm")
async def disarm(body: UserBody, request: Request) -> LiveStatus:
    authorize(request, body.user_id)
    return await _ask_executor(request, DisarmLive(user_id=body.user_id,
                                                   exchange=body.exchange or "binanceus",
                                                   everywhere=body.exchange is None))


@router.get("/api/live/{user_id}")
async def live_status(user_id: Annotated[UserId, Path()], request: Request,
                      exchange: Annotated[Exchange, Query()] = "binanceus") -> LiveStatus:
    authorize(request, user_id)
    return await _ask_executor(request, QueryLive(user_id=user_id, exchange=exchange))


@router.post("/api/kill")
async def kill(request: Request, body: KillBody | None = None) -> dict[str, object]:
    operator_only(request)
    ctx = request.app.state.ctx
    body = body or KillBody()
    await state.halt(ctx.bus.redis, body.by, body.reason)
    await ctx.bus.publish(KillSwitchEngaged(by=body.by, reason=body.reason), streams.CONTROL)
    return {"ok": True, "state": state.TradingState.HALTED.value, "reason": body.reason}


@router.post("/api/resume")
async def resume(request: Request) -> dict[str, object]:
    operator_only(request)
    ctx = request.app.state.ctx
    await state.resume(ctx.bus.redis)
    await ctx.bus.publish(KillSwitchReleased(by="api"), streams.CONTROL)
    return {"ok": True, "state": state.TradingState.ACTIVE.value}
