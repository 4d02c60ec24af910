"""Credentials service wiring: bus, vault, exchange checker and clock, built once at start-up."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI

from services.credentials import handlers
from services.credentials.checker import Checker, ccxt_checker
from services.credentials.handlers import CredentialsContext
from shared.bus import Bus
from shared.events import utcnow
from shared.exchanges.budget import RateBudgetSettings
from shared.exchanges.gate import ExchangeGate
from shared.service import Lifecycle, service_app
from shared.settings import (
    CredentialsSettings,
    ExchangeSettings,
    HomeSettings,
    RedisSettings,
    ServiceSettings,
    VaultSettings,
)
from shared.vault import Vault, load_master_key


def bootstrap(*, redis_url: str | None = None, check: Checker | None = None,
              clock: Callable[[], datetime] | None = None,
              settings: CredentialsSettings | None = None) -> CredentialsContext:
    """Build the service's dependencies from the environment; every one can be overridden."""
    service = ServiceSettings()
    redis = RedisSettings()
    url = redis_url or redis.url()
    bus = Bus(url, "credentials", service.instance_id, durability=redis.durability(url))
    vault_settings = VaultSettings(home=HomeSettings().home)
    return CredentialsContext(
        bus=bus,
        vault=Vault(bus.redis, load_master_key(vault_settings)),
        settings=settings or CredentialsSettings(),
        check=check or _checker(bus),
        clock=clock or utcnow,
    )


def _checker(bus: Bus) -> Checker:
    exchange = ExchangeSettings()
    gate = ExchangeGate(bus.redis, RateBudgetSettings(), exchange.exchange_timeout_ms)
    return ccxt_checker(exchange, gate)


def create_app(ctx_factory: Callable[[], CredentialsContext] = bootstrap) -> FastAPI:
    lifecycle = Lifecycle(handlers.register, handlers.start, handlers.stop)
    return service_app("credentials", "CryptoPiggy credentials", ctx_factory, lifecycle)
