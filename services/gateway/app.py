"""Gateway wiring: the HTTP API, the bus, and the exchange access, built once at start-up."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI

from services.gateway import (
    errors,
    handlers,
    routes_credentials,
    routes_health,
    routes_identity,
    routes_live,
    routes_orders,
    routes_positions,
    routes_trades,
)
from services.gateway.auth import load_or_create_token, require_token
from services.gateway.context import GatewayContext
from services.gateway.routes_positions import COUNT_EXTERNAL
from shared.books.db import make_engine
from shared.books.queries import Books
from shared.books.settings import BooksSettings
from shared.bus import Bus
from shared.service import Lifecycle, service_app
from shared.settings import (
    ApiSettings,
    ExchangeSettings,
    GatewaySettings,
    HomeSettings,
    ReconcileSettings,
    RedisSettings,
    ServiceSettings,
    VaultSettings,
)
from shared.vault import Vault, load_master_key


def bootstrap(*, redis_url: str | None = None, exchange: ExchangeSettings | None = None,
              gateway: GatewaySettings | None = None, api: ApiSettings | None = None,
              vault: VaultSettings | None = None, instance_id: str | None = None,
              books: BooksSettings | None = None,
              extras: dict[str, Any] | None = None) -> GatewayContext:
    """Build the gateway's dependencies from the environment; each one may be overridden."""
    service = ServiceSettings()
    redis = RedisSettings()
    url = redis_url or redis.url()
    bus = Bus(url, "gateway",
              instance_id if instance_id is not None else service.instance_id,
              service.claim_idle_ms, durability=redis.durability(url))
    vault_settings = vault or VaultSettings(home=HomeSettings().home)
    api = api or ApiSettings()
    return GatewayContext(
        bus=bus,
        vault=Vault(bus.redis, load_master_key(vault_settings)),
        api=api,
        exchange=exchange or ExchangeSettings(),
        gateway=gateway or GatewaySettings(),
        api_token=load_or_create_token(api),
        # the trade history's database: connected on first use, so the gateway trades on
        # when it is down (the books service creates and migrates it)
        books=Books(make_engine((books or BooksSettings(home=api.home)).url())),
        extras={COUNT_EXTERNAL: ReconcileSettings().reconcile_count_external} | dict(extras or {}),
    )


def _register(ctx: GatewayContext) -> None:
    handlers.register(ctx)
    routes_credentials.register(ctx)


def create_app(ctx_factory: Callable[[], GatewayContext] = bootstrap) -> FastAPI:
    lifecycle = Lifecycle(_register, handlers.start, handlers.stop)
    app = service_app("gateway", "CryptoPiggy API", ctx_factory, lifecycle, docs=True)
    errors.install(app)
    app.include_router(routes_health.router)
    protected = [Depends(require_token)]
    app.include_router(routes_credentials.router, dependencies=protected)
    app.include_router(routes_orders.router, dependencies=protected)
    app.include_router(routes_live.router, dependencies=protected)
    app.include_router(routes_trades.router, dependencies=protected)
    app.include_router(routes_positions.router, dependencies=protected)
    app.include_router(routes_identity.router, dependencies=protected)
    return app
