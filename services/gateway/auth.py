"""Bearer-token check for every HTTP route but ``/api/health``.

The token comes from ``PIGGY_API_TOKEN`` or a token file generated (mode 0600) on first start.
"""
from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from fastapi import HTTPException, Request, status

from shared.settings import ApiSettings


def load_or_create_token(settings: ApiSettings) -> str:
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    path: Path = settings.token_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


async def require_token(request: Request) -> None:
    expected: str = request.app.state.ctx.api_token
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong API token: send 'Authorization: Bearer <PIGGY_API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
