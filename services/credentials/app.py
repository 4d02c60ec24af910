"""Credentials service wiring: bus, vault, exchange checker and clock, built once at start-up."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI

from services.credentials import handlers
from services.credentials.checker import Checker, ccxt_checker
from services.credentials.handlers import CredentialsContext
from shared.bus import Bus
from shared.events import utcnow
from shared.service import add_healthz
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
    bus = Bus(redis_url or RedisSettings().redis_url, "credentials", service.instance_id)
    vault_settings = VaultSettings(home=HomeSettings().home)
    return CredentialsContext(
        bus=bus,
        vault=Vault(bus.redis, load_master_key(vault_settings)),
        settings=settings or CredentialsSettings(),
        check=check or ccxt_checker(ExchangeSettings()),
        clock=clock or utcnow,
    )


def create_app(ctx_factory: Callable[[], CredentialsContext] = bootstrap) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = ctx_factory()
        app.state.ctx = ctx
        app.state.bus = ctx.bus
        handlers.register(ctx)
        await ctx.bus.start()
        await handlers.start(ctx)
        try:
            yield
        finally:
            await handlers.stop(ctx)
            await ctx.bus.stop()

    app = FastAPI(title="CryptoPiggy credentials", lifespan=lifespan)
    add_healthz(app, "credentials")
    return app
