"""Credential routes (``/api/credentials``). Filled in by the credentials work."""
from __future__ import annotations

from fastapi import APIRouter

from services.gateway.context import GatewayContext

router = APIRouter()


def register(ctx: GatewayContext) -> None:
    """Subscribe to what these routes wait for (credential outcomes)."""
