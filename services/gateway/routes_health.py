"""``GET /api/health``: the only route without the API token."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/api/health")
async def health(request: Request) -> JSONResponse:
    ctx = request.app.state.ctx
    try:
        await ctx.bus.redis.ping()
        redis_ok = True
    except Exception:
        redis_ok = False
    body = {"status": "ok" if redis_ok else "degraded",
            "services": {"gateway": "ok", "redis": "ok" if redis_ok else "unreachable"},
            "exchange": {}}
    return JSONResponse(body, status_code=200 if redis_ok else 503)
