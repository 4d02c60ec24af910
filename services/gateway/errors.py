"""Every answer of the API is JSON, on a connection that stays usable.

- A validation error is a 422 naming each field and what is wrong with it, without echoing the
  input back (an echoed ``NaN`` can't be serialised, and an echoed secret must never be sent).
- A body declared as something else than JSON (``Content-Type``) is a 415 before any route
  runs; a body without a ``Content-Type`` is parsed as JSON (what the original client sent).
- Anything a route raises is a JSON 500 sent by a middleware inside the app: an exception that
  escaped to the server would make uvicorn close the keep-alive connection.
"""
from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("piggy.gateway.errors")

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def field_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI errors as ``{field, loc, msg, type}``, input and context left out."""
    out = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())]
        where = [p for p in loc if p not in ("body", "query", "path", "header")]
        out.append({"field": ".".join(where) or (loc[0] if loc else "body"), "loc": loc,
                    "msg": str(e.get("msg", "invalid")).removeprefix("Value error, "), "type": str(e.get("type", "invalid"))})
    return out


def unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"ok": False, "detail": errors,
                         "error": "; ".join(f"{e['field']}: {e['msg']}" for e in errors)},
                        status_code=422)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return unprocessable(field_errors(list(exc.errors())))


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/")
                                           and media.endswith("+json"))


class JsonOnly:
    """ASGI middleware: 415 for a request body declared as not JSON; a JSON 500 for any error a
    route raises (logged with its traceback), so the connection is never dropped."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        has_body = headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers
        declared = headers.get("content-type", "")
        if scope["method"] in BODY_METHODS and has_body and declared and not _is_json(declared):
            shown = declared
            await JSONResponse({"ok": False, "error": f"unsupported content type {shown[:80]!r}: "
                                "send the body as JSON with 'Content-Type: application/json'"},
                               status_code=415)(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.exception("%s %s failed", scope["method"], scope.get("path", ""))
            if started:
                raise
            await JSONResponse({"ok": False, "error": f"internal error ({type(exc).__name__}); "
                                "see the gateway log"}, status_code=500)(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(JsonOnly)
