"""Strategy service wiring: settings, bus, store and runner built once, in the lifespan."""
from __future__ import annotations

import os
from collections.abc import Callable

from fastapi import FastAPI

from services.strategy import handlers
from services.strategy.base import StrategyConfig
from services.strategy.config import KINDS, Kinds, load
from services.strategy.context import StrategyContext
from services.strategy.runner import Clock, Runner, wall_clock
from services.strategy.store import StrategyStore
from shared import redis_conn, streams
from shared.bus import Bus
from shared.events import OrderIntent
from shared.service import Lifecycle, service_app
from shared.settings import RedisSettings, ServiceSettings, StrategySettings


def bootstrap(*, redis_url: str | None = None, settings: StrategySettings | None = None,
              configs: list[StrategyConfig] | None = None, clock: Clock | None = None,
              kinds: Kinds = KINDS) -> StrategyContext:
    """Build the service from the environment; tests may pass Redis, configs, clock, kinds."""
    service = ServiceSettings()
    settings = settings or StrategySettings()
    redis = RedisSettings()
    url = redis_url or redis.url()
    if configs is None:
        configs = load(settings.strategy_file, os.environ, kinds)
    bus = Bus(url, "strategy", service.instance_id, durability=redis.durability(url))
    streams_redis = redis_conn.async_client(url)  # binary: faststream's stream entries are not UTF-8

    async def publish(intent: OrderIntent) -> None:
        await bus.publish_durable(intent, streams.INTENTS)

    runner = Runner(configs, StrategyStore(bus.redis), publish, streams_redis=streams_redis,
                    clock=clock or wall_clock, kinds=kinds, instance=bus.consumer)
    return StrategyContext(bus=bus, runner=runner, settings=settings, streams_redis=streams_redis)


def create_app(ctx_factory: Callable[[], StrategyContext] = bootstrap) -> FastAPI:
    # Loops start before consuming: the runner catches up (and may publish) before any
    # ticker reaches a strategy that is not ready.
    lifecycle = Lifecycle(handlers.register, handlers.start, handlers.stop, start_before_consuming=True)
    return service_app("strategy", "CryptoPiggy strategy service", ctx_factory, lifecycle)
