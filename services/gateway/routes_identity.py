"""``GET /api/whoami``: whom the caller's token acts for (the dashboard shows only that user)."""
from __future__ import annotations

from fastapi import APIRouter, Request

from services.gateway.auth import principal

router = APIRouter()


@router.get("/api/whoami")
async def whoami(request: Request) -> dict[str, object]:
    """``{"operator": true, "userId": null}`` for the operator token, else the token's user."""
    who = principal(request)
    return {"operator": who.operator, "userId": who.user_id}
