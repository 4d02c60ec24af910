"""Gateway bus handlers and background loops. Filled in by the gateway work."""
from __future__ import annotations

from services.gateway.context import GatewayContext


def register(ctx: GatewayContext) -> None:
    """Declare subscribers on ``ctx.bus`` (before the broker starts)."""


async def start(ctx: GatewayContext) -> None:
    """Start background loops (heartbeats, tickers)."""


async def stop(ctx: GatewayContext) -> None:
    """Stop background loops and close exchange clients."""
