"""What the strategy service is built from, in one place."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import redis.asyncio as aredis

from services.strategy.runner import Runner
from shared.bus import Bus
from shared.settings import StrategySettings


@dataclass
class StrategyContext:
    bus: Bus
    runner: Runner
    settings: StrategySettings
    streams_redis: aredis.Redis
    loop_task: asyncio.Task[None] | None = None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
