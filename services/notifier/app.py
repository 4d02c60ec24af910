"""Notifier wiring: the alert sender, limiter and bus subscribers, built once at start-up."""
from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from services.notifier import handlers
from services.notifier.core import DeadLetterWatch, Limiter
from services.notifier.handlers import NotifierContext
from services.notifier.send import AppriseSender
from shared.bus import Bus
from shared.service import Lifecycle, service_app
from shared.settings import NotifierSettings, RedisSettings, ServiceSettings


def bootstrap(*, redis_url: str | None = None,
              settings: NotifierSettings | None = None) -> NotifierContext:
    service = ServiceSettings()
    settings = settings or NotifierSettings()
    redis = RedisSettings()
    url = redis_url or redis.url()
    bus = Bus(url, "notifier", service.instance_id,
              service.claim_idle_ms, durability=redis.durability(url))
    return NotifierContext(
        bus=bus, settings=settings, sender=AppriseSender(settings.alert_urls),
        limiter=Limiter(settings.alert_rate_per_min, settings.alert_dedup_s,
                        settings.alert_max_age_s),
        watch=DeadLetterWatch(settings.alert_deadletter_threshold,
                              settings.alert_deadletter_window_s))


def create_app(ctx_factory: Callable[[], NotifierContext] = bootstrap) -> FastAPI:
    lifecycle = Lifecycle(handlers.register, handlers.start, handlers.stop)
    return service_app("notifier", "CryptoPiggy notifier", ctx_factory, lifecycle)
