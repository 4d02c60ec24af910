"""Which venue a request is for: ``/<venue>/...`` or, without a known prefix, binanceus.

The ``resolve_venue`` middleware (``sandbox.app``) stores the venue's state and the path
without its prefix on the request; handlers read them here. Signatures are checked over that
prefix-free path, which is the path ccxt signs (its ``urls['api']`` base is the venue URL).
"""
from __future__ import annotations

from aiohttp import web

from sandbox.state import SandboxState

STATE_KEY: web.RequestKey[SandboxState] = web.RequestKey("sandbox_state", SandboxState)
PATH_KEY: web.RequestKey[str] = web.RequestKey("sandbox_venue_path", str)
PREFIX_KEY: web.RequestKey[str] = web.RequestKey("sandbox_venue_prefix", str)


def split_venue(path: str, venues: set[str] | frozenset[str]) -> tuple[str | None, str, str]:
    """``(venue or None, prefix, path without prefix)``; ``None`` = the root (binanceus)."""
    first, _, rest = path.lstrip("/").partition("/")
    if first in venues:
        return first, f"/{first}", "/" + rest
    return None, "", path


def state_of(request: web.Request) -> SandboxState:
    return request[STATE_KEY]


def venue_path(request: web.Request) -> str:
    """The request path without the ``/<venue>`` prefix, e.g. ``/0/private/AddOrder``."""
    return request[PATH_KEY]
