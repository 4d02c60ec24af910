"""Where an intent goes, and under which client order id. Pure."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from services.executor.gates import Gate, GateResult, closed


class Route(StrEnum):
    GATEWAY = "gateway"  # live, backend first
    DIRECT = "direct"  # live, through ccxt in the executor: only when the gateway is known down
    PAPER = "paper"
    REJECT = "reject"


@dataclass(frozen=True)
class Decision:
    route: Route
    closed: tuple[GateResult, ...] = ()

    @property
    def reasons(self) -> list[str]:
        return [f"{g.gate.value}: {g.reason}" for g in self.closed]


def client_order_id(intent_id: str) -> str:
    """Deterministic, so every retry or replica sends the same id (Binance: ≤36 of [A-Za-z0-9-_])."""
    return "pg-" + hashlib.sha256(intent_id.encode()).hexdigest()[:32]


def decide(results: list[GateResult], *, paper_enabled: bool, direct_configured: bool) -> Decision:
    """Live only when every gate is open; then the gateway first.

    With a direct ccxt path configured, a stale gateway heartbeat does not block live: the
    intent goes direct instead. Any other closed gate sends it to paper (or rejects it).
    """
    gateway_fresh = next((r.open for r in results if r.gate is Gate.GATEWAY_HEARTBEAT), True)
    ignore = frozenset({Gate.GATEWAY_HEARTBEAT}) if direct_configured else frozenset()
    blocking = tuple(closed(results, ignore=ignore))
    if blocking:
        return Decision(Route.PAPER if paper_enabled else Route.REJECT, blocking)
    return Decision(Route.GATEWAY if gateway_fresh else Route.DIRECT)
