"""Each venue's order id for the core's integer order id, and back.

Kraken txids look like ``OQCLML-BW3P3-BUCMWZ`` (here ``O`` + 16 digits split 5-5-6);
Coinbase order ids are UUIDs (here the UUID whose integer value is the order id).
"""
from __future__ import annotations

import uuid


def kraken_txid(order_id: int) -> str:
    d = f"{order_id:016d}"
    return f"O{d[:5]}-{d[5:10]}-{d[10:]}"


def kraken_trade_txid(trade_id: int) -> str:
    """A trade's id as Kraken shows it (``T`` where an order's has ``O``)."""
    return "T" + kraken_txid(trade_id)[1:]


def from_kraken_txid(txid: str) -> int | None:
    digits = txid.replace("-", "")[1:]
    return int(digits) if txid.startswith("O") and digits.isdigit() else None


def coinbase_order_id(order_id: int) -> str:
    return str(uuid.UUID(int=order_id))


def from_coinbase_order_id(value: str) -> int | None:
    try:
        return uuid.UUID(value).int
    except ValueError:
        return None


def venue_order_id(venue: str, order_id: int) -> str:
    """The id the venue's wire shows for ``order_id`` (binance: the number itself)."""
    if venue == "kraken":
        return kraken_txid(order_id)
    if venue == "coinbase":
        return coinbase_order_id(order_id)
    return str(order_id)
