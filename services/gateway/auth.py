"""Who may call what: the operator token (everything) or a per-user token (own user id only).

The operator token comes from ``PIGGY_API_TOKEN`` or a token file generated (mode 0600) on
first start. Per-user tokens are created with ``piggy token create --user`` and looked up by
their hash (``shared/tokens.py``). Every route but ``/api/health`` needs one of them (401
otherwise); every route then checks scope with ``authorize`` (its user id) or
``operator_only`` (routes that act for everyone: emergency stop, resume, the whole trade log).
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request, status

from shared import tokens
from shared.files import create_once
from shared.settings import ApiSettings


@dataclass(frozen=True)
class Principal:
    """``user_id`` None: the operator."""

    user_id: str | None

    @property
    def operator(self) -> bool:
        return self.user_id is None


OPERATOR = Principal(None)


def load_or_create_token(settings: ApiSettings) -> str:
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    path: Path = settings.token_file
    if not path.exists():  # every gateway replica may get here at once
        create_once(path, secrets.token_urlsafe(32))
    return path.read_text().strip()


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="missing or wrong API token: send 'Authorization: Bearer <token>' (the operator "
               "token PIGGY_API_TOKEN, or a user token from `piggy token create --user`)",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def require_token(request: Request) -> Principal:
    expected: str = request.app.state.ctx.api_token
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise _unauthorized()
    if hmac.compare_digest(given.encode(), expected.encode()):
        request.state.principal = OPERATOR
        return OPERATOR
    info = await tokens.lookup(request.app.state.ctx.bus.redis, given)
    if info is None:
        raise _unauthorized()
    principal = Principal(info.user)
    request.state.principal = principal
    return principal


def principal(request: Request) -> Principal:
    found = getattr(request.state, "principal", None)
    if not isinstance(found, Principal):  # a route mounted without require_token: refuse
        raise _unauthorized()
    return found


def authorize(request: Request, user_id: str) -> Principal:
    """403 unless the caller is the operator or ``user_id``'s own token."""
    who = principal(request)
    if not who.operator and who.user_id != user_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail="this token acts only for its own user id")
    return who


def operator_only(request: Request) -> Principal:
    who = principal(request)
    if not who.operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            detail="only the operator token may do this (it acts for every user)")
    return who
