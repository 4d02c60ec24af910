"""``GET /api/health``: the only route without the API token.

200 only when the gateway (its loops running) and Redis (a PING within a second) are healthy,
else 503; the exchange section is information (reachability, RTT, instance counts).
"""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()
REDIS_TIMEOUT_S = 1.0


@router.get("/api/health")
async def health(request: Request) -> JSONResponse:
    ctx = getattr(request.app.state, "ctx", None)
    if ctx is None:
        return JSONResponse({"status": "starting", "services": {"gateway": "starting",
                                                                "redis": "unknown"},
                             "exchange": {}}, status_code=503)
    try:
        await asyncio.wait_for(ctx.bus.redis.ping(), REDIS_TIMEOUT_S)
        redis = "ok"
    except Exception as exc:  # any failure to reach Redis is an unhealthy answer
        redis = f"unreachable ({type(exc).__name__})"
    rt = ctx.extras.get("gateway")
    gateway = "ok" if rt is not None and rt.loops_alive else "degraded (background loops down)"
    exchange = rt.pool.snapshot() if rt is not None else {}
    if rt is not None:
        exchange["last_heartbeat"] = rt.last_beat
        exchange["instance_id"] = rt.instance_id
    healthy = redis == "ok" and gateway == "ok"
    body = {"status": "ok" if healthy else "degraded",
            "services": {"gateway": gateway, "redis": redis}, "exchange": exchange}
    return JSONResponse(body, status_code=200 if healthy else 503)
