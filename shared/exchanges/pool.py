"""Exchange clients of the gateway (and of the executor's direct path): one ccxt async
instance per (user, exchange), made on first use from the vault and kept; one keyless
instance per exchange for public data. So an order reads neither the vault nor the markets
from Redis or the exchange once its user's instance exists; the gateway drops an instance when
its keys change (``CredentialsSubmitted/Rejected/Revoked``, followed by every replica) or the
exchange refuses them (AUTH), and the next order reads the vault again.

Markets are fetched once per exchange by the keyless instance and shared with every user's
instance (``set_markets_from_exchange``, which also carries the exchange's market helpers:
kraken parses an order's pair by its altname through them), then refreshed on a schedule by
``refresh_markets``. Every read goes through ``read`` (retried with backoff, round trip
timed); everything is closed by ``close``. ``created`` counts user instances ever made:
N users on one exchange → N. With a ``gate`` (``shared.exchanges.gate``) every instance's
calls take the rate budget shared by every replica (and kraken's shared nonce).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

from shared.exchange import make_exchange, resolve_symbol
from shared.exchanges.base import is_loopback, is_transient
from shared.exchanges.gate import ExchangeGate
from shared.orders import retry_read
from shared.settings import ExchangeSettings
from shared.vault import ApiKeyPair, Vault, vault_ref

log = logging.getLogger("piggy.exchanges")
T = TypeVar("T")
Factory = Callable[[str, ExchangeSettings, ApiKeyPair | None], Any]


class ExchangePool:
    def __init__(self, settings: ExchangeSettings, vault: Vault, *,
                 factory: Factory = make_exchange, gate: ExchangeGate | None = None) -> None:
        self._settings = settings
        self._gate = gate
        self._vault = vault
        self._factory = factory
        self._clients: dict[tuple[str, str], Any] = {}
        self._public: dict[str, Any] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.created = 0  # user instances ever created
        self.public_created = 0
        self.markets_loads = 0
        self.reachable: dict[str, bool] = {}
        self.rtt_ms: dict[str, float] = {}
        self.last_error: dict[str, str] = {}

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    @property
    def instances(self) -> int:
        return len(self._clients)

    async def read(self, exchange: str, call: Callable[[], Awaitable[T]]) -> T:
        """A read against ``exchange``: retried when transient, timed, reachability noted."""
        started = time.perf_counter()
        try:
            result = await retry_read(call)
        except Exception as exc:
            self._note(exchange, exc)
            raise
        self.note_ok(exchange, (time.perf_counter() - started) * 1000)
        return result

    def note_ok(self, exchange: str, rtt_ms: float | None) -> None:
        self.reachable[exchange] = True
        if rtt_ms is not None:
            self.rtt_ms[exchange] = round(rtt_ms, 3)

    def _note(self, exchange: str, exc: BaseException) -> None:
        if is_transient(exc):
            self.reachable[exchange] = False
            self.last_error[exchange] = type(exc).__name__

    async def public(self, exchange: str) -> Any:
        """The keyless instance for ``exchange``, markets loaded."""
        async with self._lock(("", exchange)):
            client = self._public.get(exchange)
            if client is None:
                client = self._attach(self._factory(exchange, self._settings, None), exchange,
                                      None)
                self.public_created += 1
                try:
                    await self.read(exchange, client.load_markets)
                except Exception:
                    await client.close()
                    raise
                self.markets_loads += 1
                self._public[exchange] = client
            return client

    async def client(self, user_id: str, exchange: str) -> Any:
        """The user's instance for ``exchange`` (keys from the vault), made once and kept."""
        key = (user_id, exchange)
        existing = self._clients.get(key)
        if existing is not None:
            return existing
        public = await self.public(exchange)
        async with self._lock(key):
            existing = self._clients.get(key)
            if existing is not None:
                return existing
            keys = await self._vault.get(vault_ref(user_id, exchange))  # VaultError if none
            client = self._attach(self._factory(exchange, self._settings, keys), exchange,
                                  keys.api_key)
            client.set_markets_from_exchange(public)
            self._clients[key] = client
            self.created += 1
            log.info("exchange instance %d made for %s on %s", self.created, user_id, exchange)
            return client

    def _attach(self, client: Any, exchange: str, api_key: str | None) -> Any:
        """Every call of ``client`` through the shared rate budget and nonce, if any."""
        if self._gate is None:
            return client
        loopback = is_loopback(self._settings.base_url(exchange))
        return self._gate.attach(client, exchange, api_key, loopback=loopback)

    async def market(self, exchange: str, symbol: str) -> dict[str, Any]:
        """The market for ``BTC/USDT`` or ``BTCUSDT``; ``UnknownSymbol`` lists close matches."""
        public = await self.public(exchange)
        return resolve_symbol(public.markets, public.markets_by_id, symbol, exchange)

    async def refresh_markets(self) -> None:
        """Reload every exchange's markets once and hand them to its user instances."""
        for exchange, public in list(self._public.items()):
            try:
                await self.read(exchange, partial(public.load_markets, reload=True))
            except Exception as exc:
                log.warning("markets refresh on %s failed: %s", exchange, type(exc).__name__)
                continue
            self.markets_loads += 1
            for (_, ex), client in list(self._clients.items()):
                if ex == exchange:
                    client.set_markets_from_exchange(public)

    async def evict(self, user_id: str, exchange: str) -> None:
        """Drop a user's instance (its keys were refused, replaced or revoked); the next use
        reads the vault again. Waits for an instance being made (it may hold the old keys)."""
        async with self._lock((user_id, exchange)):
            client = self._clients.pop((user_id, exchange), None)
        if client is not None:
            await _close(client)

    def redactions(self, client: Any) -> tuple[str, ...]:
        return tuple(s for s in (getattr(client, "apiKey", ""), getattr(client, "secret", ""))
                     if s)

    def snapshot(self) -> dict[str, Any]:
        names = sorted(set(self.reachable) | set(self._public))
        return {
            "instances": self.instances,
            "created": self.created,
            "markets_loads": self.markets_loads,
            "exchanges": {n: {"reachable": self.reachable.get(n), "rtt_ms": self.rtt_ms.get(n),
                              "last_error": self.last_error.get(n)} for n in names},
        }

    async def close(self) -> None:
        clients = list(self._clients.values()) + list(self._public.values())
        self._clients.clear()
        self._public.clear()
        await asyncio.gather(*(_close(c) for c in clients))


async def _close(client: Any) -> None:
    try:
        await client.close()
    except Exception as exc:  # closing must never stop shutdown
        log.debug("closing an exchange client failed: %s", type(exc).__name__)
