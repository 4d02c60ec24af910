"""An exchange's own record of an order and of a fill, as its history reports them.

A leaf module (no ccxt): the adapters build these (``base.ExchangeAdapter.orders_since`` /
``fills_since``) and the books' pure reconciliation core reads them.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class VenueOrder:
    """One order as the exchange keeps it (its own numbers), read from its history."""

    order_id: str
    client_order_id: str | None
    symbol: str  # ccxt unified, e.g. "BTC/USD"
    side: str  # buy | sell
    status: str  # ccxt's open | closed | canceled | rejected | expired
    amount: Decimal | None
    filled: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: str
    created_at: datetime  # UTC


@dataclass(frozen=True)
class VenueFill:
    """One trade (fill) of an order as the exchange reports it. ``client_order_id`` is set
    only where the exchange's trade record carries it (none of the four do: match by
    ``order_id``)."""

    trade_id: str
    order_id: str
    client_order_id: str | None
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: str
    at: datetime  # UTC
