"""Credential routes (``/api/credentials``): save encrypted, wait for validation, status, delete.

The body is parsed here rather than by FastAPI, so a 422 names the field without echoing any
input back (FastAPI's default error body would quote the submitted secret).

``POST`` answers so that a client judging success by HTTP 200 (or by ``ok``/``validated``/
``canTrade`` true, or ``status`` ok|success) is right: 200 only for a validated key; 422 with
``reasonCode`` when the exchange refused the key (wrong secret, unknown key, no trading
permission); 503 with ``Retry-After`` when the exchange could not be asked (unreachable, rate
limited); 202 while validation is still running.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from services.gateway.auth import Principal, authorize, principal
from services.gateway.context import GatewayContext
from services.gateway.errors import unprocessable as _unprocessable
from shared import state, streams
from shared.events import CredentialsRevoked, CredentialsSubmitted, new_id, utcnow
from shared.exchanges import DEFAULT_EXCHANGE
from shared.types import EXCHANGES, Exchange, UserId
from shared.vault import ApiKeyPair, mask, vault_ref

router = APIRouter(prefix="/api/credentials", tags=["credentials"])

POLL_S = 0.02
UserIdPath = Annotated[UserId, Path()]
ExchangeQuery = Annotated[Exchange | None, Query()]
# Refused by the exchange: the key itself is wrong (422). Anything else not validated is
# "could not ask" (503, try again later).
REFUSED = frozenset({"wrong_secret", "unknown_key", "no_trading_permission"})
RETRY_AFTER_S = 30


class CredentialsIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    user_id: UserId | None = Field(default=None, alias="userId")
    exchange: Exchange
    api_key: str = Field(alias="apiKey", min_length=4, max_length=256, pattern=r"^\S+$")
    api_secret: SecretStr = Field(alias="apiSecret", min_length=4, max_length=512)


def _field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for e in exc.errors(include_url=False, include_input=False, include_context=False):
        name = ".".join(str(p) for p in e["loc"]) or "body"
        out.append({"field": name, "loc": ["body", *e["loc"]],
                    "msg": e["msg"].removeprefix("Value error, "), "type": e["type"]})
    return out


def submit_status(view: dict[str, Any]) -> int:
    """The HTTP status of a submission's answer (see the module docstring)."""
    if view["status"] == "pending":
        return 202
    if view["status"] == "validated" and view["validated"]:
        return 200
    if view["status"] == "rejected" and view.get("reasonCode") not in REFUSED:
        return 503
    return 422


def _view(user_id: str, exchange: str, status: dict[str, str]) -> dict[str, Any]:
    state_ = status.get("status", "missing") or "missing"
    validated = status.get("validated") == "1"
    can_trade = status.get("can_trade") == "1"
    return {
        "ok": validated and can_trade,
        "validated": validated,
        "canTrade": can_trade,
        "canWithdraw": status.get("can_withdraw") == "1",
        "status": state_,
        "error": status.get("error") or None,
        "reasonCode": status.get("reason_code") or None,
        "warning": status.get("warning") or None,
        "userId": user_id,
        "exchange": exchange,
        "apiKeyMasked": status.get("api_key_masked", ""),
        "checkedAt": status.get("checked_at") or None,
    }


def _ctx(request: Request) -> GatewayContext:
    return request.app.state.ctx


async def _wait_outcome(ctx: GatewayContext, user_id: str, exchange: str,
                        correlation_id: str) -> dict[str, str]:
    """Poll the status hash until the credentials service has written this submission's outcome."""
    deadline = time.monotonic() + ctx.api.reply_timeout_s
    while True:
        status = await state.credential_status(ctx.bus.redis, user_id, exchange)
        if status.get("correlation_id") != correlation_id:
            return status  # superseded by a newer submission or a delete
        if status.get("status") != "pending" or time.monotonic() >= deadline:
            return status
        await asyncio.sleep(POLL_S)


_BODY_DOC = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": CredentialsIn.model_json_schema(by_alias=True)}}}}


@router.post("", openapi_extra=_BODY_DOC)
async def submit_credentials(request: Request) -> JSONResponse:
    ctx = _ctx(request)
    try:
        raw = json.loads(await request.body() or b"null")
    except ValueError:
        return _unprocessable([{"field": "body", "loc": ["body"], "msg": "body is not valid JSON",
                                "type": "json_invalid"}])
    try:
        body = CredentialsIn.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        return _unprocessable(_field_errors(exc))
    user_id = body.user_id or _new_user(principal(request))
    authorize(request, user_id)
    pair = ApiKeyPair(body.api_key, body.api_secret.get_secret_value())
    current = await _unchanged(ctx, user_id, body.exchange, pair)
    if current is not None:  # the key already validated: nothing changes (live stays armed)
        return JSONResponse(_view(user_id, body.exchange, current), status_code=200)
    masked = mask(body.api_key)
    correlation_id = new_id()
    ref = await ctx.vault.put(user_id, body.exchange, pair)
    await state.set_credential_status(ctx.bus.redis, user_id, body.exchange, {
        "status": "pending", "validated": False, "can_trade": False, "can_withdraw": False,
        "error": "", "reason_code": "", "warning": "", "api_key_masked": masked,
        "exchange": body.exchange, "submitted_at": utcnow().isoformat(), "checked_at": "",
        "correlation_id": correlation_id,
    })
    await ctx.bus.publish(CredentialsSubmitted(user_id=user_id, exchange=body.exchange,
                                               vault_ref=ref, api_key_masked=masked,
                                               correlation_id=correlation_id), streams.CREDENTIALS)
    status = await _wait_outcome(ctx, user_id, body.exchange, correlation_id)
    view = _view(user_id, body.exchange, status)
    if view["status"] == "pending":
        view["error"] = None
        view["message"] = ("validation still running; see GET /api/credentials/"
                           f"{user_id} for the result")
    code = submit_status(view)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if code == 503 else None
    return JSONResponse(view, status_code=code, headers=headers)


async def _unchanged(ctx: GatewayContext, user_id: str, exchange: str,
                     pair: ApiKeyPair) -> dict[str, str] | None:
    """The current status when ``pair`` is the key already stored and validated for this user
    and exchange (compared in constant time); else None (it is saved and validated again)."""
    status = await state.credential_status(ctx.bus.redis, user_id, exchange)
    if status.get("status") != "validated":
        return None
    try:
        stored = await ctx.vault.get(vault_ref(user_id, exchange))
    except Exception:  # noqa: BLE001 - unreadable or missing: treat as a new key
        return None
    same = hmac.compare_digest(stored.api_key.encode(), pair.api_key.encode()) & \
        hmac.compare_digest(stored.secret.encode(), pair.secret.encode())
    return status if same else None


def _new_user(who: Principal) -> str:
    """No ``userId`` given: a user token saves for its own user, the operator for a new one."""
    return who.user_id or str(uuid.uuid4())


async def _statuses(ctx: GatewayContext, user_id: str,
                    exchange: str | None) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for ex in [exchange] if exchange else EXCHANGES:
        status = await state.credential_status(ctx.bus.redis, user_id, ex)
        if status or await ctx.vault.masked(vault_ref(user_id, ex)) is not None:
            found[ex] = status
    return found


def _not_found(user_id: str) -> JSONResponse:
    return JSONResponse({"ok": False, "status": "missing", "userId": user_id,
                         "detail": f"no credentials for user {user_id}"}, status_code=404)


@router.get("/{user_id}")
async def credentials_status(
    request: Request,
    user_id: UserIdPath,
    exchange: ExchangeQuery = None,
) -> JSONResponse:
    authorize(request, user_id)
    found = await _statuses(_ctx(request), user_id, exchange)
    if not found:
        return _not_found(user_id)
    views = [_view(user_id, ex, st) for ex, st in found.items()]
    primary = next((v for v in views if v["exchange"] == DEFAULT_EXCHANGE), views[0])
    return JSONResponse({**primary, "credentials": views})


@router.delete("/{user_id}")
async def delete_credentials(
    request: Request,
    user_id: UserIdPath,
    exchange: ExchangeQuery = None,
) -> JSONResponse:
    authorize(request, user_id)
    ctx = _ctx(request)
    found = await _statuses(ctx, user_id, exchange)
    if not found:
        return _not_found(user_id)
    reason = "deleted by the user"
    for ex in found:
        correlation_id = new_id()
        await ctx.vault.delete(vault_ref(user_id, ex))
        await state.set_credential_status(ctx.bus.redis, user_id, ex, {
            "status": "revoked", "validated": False, "can_trade": False, "error": reason,
            "reason_code": "deleted", "warning": "", "checked_at": utcnow().isoformat(),
            "correlation_id": correlation_id,
        })
        await ctx.bus.publish(CredentialsRevoked(user_id=user_id, exchange=ex, reason=reason,
                                                 correlation_id=correlation_id),
                              streams.CREDENTIALS)
    return JSONResponse({"ok": True, "userId": user_id, "status": "revoked",
                         "deleted": sorted(found)})


def register(ctx: GatewayContext) -> None:
    """Nothing to subscribe: replies are read from the status hash the credentials service
    writes, guarded by the submission's correlation id (works with any number of replicas)."""
