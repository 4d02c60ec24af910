"""What the executor's handlers share, built once in the lifespan."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.executor.ledger import Ledger
from shared.bus import Bus
from shared.settings import ExecutorSettings


@dataclass
class ExecutorContext:
    bus: Bus
    ledger: Ledger
    settings: ExecutorSettings
    clock: Callable[[], float] = time.time
    direct: Any = None  # a DirectRoute when the direct ccxt path is configured
    watchdog: asyncio.Task[None] | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)
