"""Process plumbing every service shares: logging, the /healthz route, running under uvicorn."""
from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from shared.bus import Bus


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("faststream", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def add_healthz(app: FastAPI, service: str) -> None:
    """``GET /healthz``: 200 while this process and its Redis answer, else 503."""

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        bus: Bus | None = getattr(app.state, "bus", None)
        body: dict[str, Any] = {"service": service, "status": "ok"}
        try:
            if bus is None:
                raise RuntimeError("not started")
            await bus.redis.ping()
            body["instance"] = bus.consumer
            body["redis"] = "ok"
        except Exception as exc:  # any failure to reach Redis is an unhealthy answer
            body |= {"status": "unhealthy", "redis": f"{type(exc).__name__}"}
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)


def serve(app: FastAPI, host: str, port: int, log_level: str = "info") -> None:
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), access_log=False,
                lifespan="on")
