"""What the executor's handlers share, built once in the lifespan."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.executor.ledger import Ledger
from shared.bus import Bus
from shared.events import OrderIntent
from shared.paperfill import MarketRules
from shared.settings import ExecutorSettings


@dataclass
class ExecutorContext:
    bus: Bus
    ledger: Ledger
    settings: ExecutorSettings
    clock: Callable[[], float] = time.time
    direct: Any = None  # a DirectRoute when the direct ccxt path is configured
    watchdog: asyncio.Task[None] | None = None
    reconciler: asyncio.Task[None] | None = None
    # Intents this process routed and that await their outcome: the outcome handler builds
    # the trade line from here without reading the ledger (another replica's: read it).
    routed: dict[str, OrderIntent] = field(default_factory=dict)
    # Paper fills' market rules by (exchange, symbol), read once from the gateway's keys.
    market_rules: dict[tuple[str, str], MarketRules] = field(default_factory=dict)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
