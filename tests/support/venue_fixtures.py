"""The fixtures every sandbox venue test module shares: the sandbox, its admin for one venue
with a set price, and an unmodified ccxt client for a key (the modules' own ``key`` fixture).

    sandbox, admin, exchange = venue_fixtures("kraken", "XXBTZUSD", kraken)
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from sandbox import AsyncSandboxAdmin, SandboxServer

PRICE = "50000"


def venue_fixtures(venue: str, symbol_id: str,
                   client: Callable[[str, dict[str, Any]], Any]) -> tuple[Any, Any, Any]:
    """``sandbox``, ``admin`` (``symbol_id`` priced at 50,000) and ``exchange`` (``client(url,
    key)``, closed after the test) fixtures for ``venue``."""

    @pytest.fixture
    async def sandbox() -> AsyncIterator[SandboxServer]:
        async with SandboxServer(port=0, seed=1) as sb:
            yield sb

    @pytest.fixture
    async def admin(sandbox: SandboxServer) -> AsyncSandboxAdmin:
        admin = AsyncSandboxAdmin(sandbox.url, venue=venue)
        await admin.set_price(symbol_id, PRICE)
        return admin

    @pytest.fixture
    async def exchange(sandbox: SandboxServer, key: dict[str, Any]) -> AsyncIterator[Any]:
        ex = client(sandbox.url, key)
        try:
            yield ex
        finally:
            await ex.close()

    return sandbox, admin, exchange
