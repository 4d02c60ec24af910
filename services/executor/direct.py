"""The direct ccxt path: used only when the gateway is known down before sending.

It runs the gateway's order pipeline (``shared.orderflow``: same checks, same client order id
markers, same exchange adapters, same lookup-instead-of-resend) in this process, with keys from
the vault, so an order placed here and one placed by a gateway for the same intent can never
both reach the exchange. Nothing here imports the gateway.
"""
from __future__ import annotations

import redis.asyncio as aredis

from shared import orderflow
from shared.cids import CidMarkers
from shared.durable import Durability
from shared.events import OrderPlaced, OrderRejected, OrderRequested
from shared.exchanges.budget import RateBudgetSettings
from shared.exchanges.gate import ExchangeGate
from shared.exchanges.pool import ExchangePool
from shared.settings import ExchangeSettings, HomeSettings, VaultSettings
from shared.vault import Vault, load_master_key


class DirectRoute:
    def __init__(self, pool: ExchangePool, deps: orderflow.OrderDeps) -> None:
        self._pool = pool
        self._deps = deps

    @classmethod
    def from_environment(cls, redis: aredis.Redis, owner: str,
                         durability: Durability | None = None) -> DirectRoute:
        exchange = ExchangeSettings()
        vault = Vault(redis, load_master_key(VaultSettings(home=HomeSettings().home)))
        gate = ExchangeGate(redis, RateBudgetSettings(), exchange.exchange_timeout_ms)
        pool = ExchangePool(exchange, vault, gate=gate)
        stale = 2 * exchange.exchange_timeout_ms / 1000 + 5
        markers = CidMarkers(redis, owner, stale_after_s=stale, durability=durability)
        return cls(pool, orderflow.OrderDeps(pool=pool, redis=redis, markers=markers))

    async def place(self, request: OrderRequested) -> OrderPlaced | OrderRejected:
        outcome = await orderflow.handle(request, self._deps)
        return outcome.model_copy(update={"route": "direct"})

    async def close(self) -> None:
        await self._pool.close()
