"""The coinbase dialect (placeholder until its routes land)."""
from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()


def bug_response() -> web.Response:
    return web.json_response({"error": "INTERNAL", "message": "internal error"}, status=500)


def rate_limited(status: int) -> web.Response:
    return web.json_response({"errors": [{"id": "rate_limit_exceeded",
                                          "message": "Too many requests"}]}, status=status)


def server_error(status: int) -> web.Response:
    return web.json_response({"error": "UNAVAILABLE", "message": "service unavailable"},
                             status=status)
