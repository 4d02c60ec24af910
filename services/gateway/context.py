"""Everything the gateway's routes and handlers share, built once in the lifespan."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.books.queries import Books
from shared.bus import Bus
from shared.settings import ApiSettings, ExchangeSettings, GatewaySettings
from shared.vault import Vault


@dataclass
class GatewayContext:
    bus: Bus
    vault: Vault
    api: ApiSettings
    exchange: ExchangeSettings
    gateway: GatewaySettings
    api_token: str
    books: Books  # the books database (trade history, positions)
    extras: dict[str, Any] = field(default_factory=dict)
