"""ccxt's parsed orders, trades and balances as the adapters' ``VenueOrder``/``VenueFill`` and
holdings (exact decimals), and the bookkeeping every adapter's paging shares.

Pure: no I/O. ccxt hands amounts back as floats parsed from the exchange's strings; each is
turned into a ``Decimal`` through its shortest repr, which round-trips the exchange's string
for every amount with at most 15 significant digits (all of the four exchanges' amounts).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.exchanges.base import LOOKUP_SKEW, OrderLookupInconclusive, VenueFill, VenueOrder

ZERO = Decimal(0)
# a lookup or listing that needs more pages than this is cut short (inconclusive), never
# answered from what was read so far
MAX_PAGES = 200
LOOKUP_SKEW_MS = int(LOOKUP_SKEW.total_seconds() * 1000)


def ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware (or UTC-naive) datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def at(timestamp_ms: Any) -> datetime:
    return datetime.fromtimestamp(int(timestamp_ms or 0) / 1000, UTC)


def dec(value: Any) -> Decimal:
    return ZERO if value is None or value == "" else Decimal(str(value))


def _fee(item: dict[str, Any], default_currency: str) -> tuple[Decimal, str]:
    """The fee of an order or trade: ``fee``, else the sum of ``fees`` (one currency)."""
    fee = item.get("fee")
    chosen = [fee] if isinstance(fee, dict) and fee.get("cost") is not None else [
        f for f in item.get("fees") or [] if isinstance(f, dict) and f.get("cost") is not None]
    if not chosen:
        return ZERO, default_currency
    currency = str(chosen[0].get("currency") or default_currency)
    return sum((dec(f.get("cost")) for f in chosen), ZERO), currency


def quote_of(symbol: str) -> str:
    return symbol.split("/")[1].split(":")[0] if "/" in symbol else ""


def venue_order(order: dict[str, Any], default_fee_currency: str = "") -> VenueOrder:
    """A ccxt order as a ``VenueOrder``; a missing cost is filled × average."""
    symbol = str(order.get("symbol") or "")
    filled = dec(order.get("filled"))
    cost = order.get("cost")
    if cost is None and order.get("average") is not None:
        cost = dec(order["average"]) * filled
    fee, currency = _fee(order, default_fee_currency or quote_of(symbol))
    amount = order.get("amount")
    return VenueOrder(
        order_id=str(order["id"]), client_order_id=order.get("clientOrderId") or None,
        symbol=symbol, side=str(order.get("side") or ""), status=str(order.get("status") or ""),
        amount=None if amount is None else dec(amount), filled=filled, cost=dec(cost), fee=fee,
        fee_currency=currency, created_at=at(order.get("timestamp")))


def venue_fill(trade: dict[str, Any], default_fee_currency: str = "") -> VenueFill:
    symbol = str(trade.get("symbol") or "")
    price, amount = dec(trade.get("price")), dec(trade.get("amount"))
    cost = dec(trade["cost"]) if trade.get("cost") is not None else price * amount
    fee, currency = _fee(trade, default_fee_currency or quote_of(symbol))
    return VenueFill(
        trade_id=str(trade["id"]), order_id=str(trade.get("order") or ""),
        client_order_id=trade.get("clientOrderId") or None, symbol=symbol,
        side=str(trade.get("side") or ""), price=price, amount=amount, cost=cost, fee=fee,
        fee_currency=currency, at=at(trade.get("timestamp")))


def with_fees(order: VenueOrder, fills: Iterable[VenueFill]) -> VenueOrder:
    """``order`` with the fee of its fills, when the order listing carries none (binance)."""
    mine = [f for f in fills if f.order_id == order.order_id and f.fee]
    if order.fee or not mine:
        return order
    return replace(order, fee=sum((f.fee for f in mine), ZERO), fee_currency=mine[0].fee_currency)


def holdings_of(balance: dict[str, Any]) -> dict[str, Decimal]:
    """Free + locked per asset from ccxt's ``fetch_balance`` (``total``, else free + used)."""
    out: dict[str, Decimal] = {}
    totals = balance.get("total") or {}
    free, used = balance.get("free") or {}, balance.get("used") or {}
    for asset in set(totals) | set(free) | set(used):
        total = totals.get(asset)
        amount = dec(total) if total is not None else dec(free.get(asset)) + dec(used.get(asset))
        if amount:
            out[asset] = amount
    return out


class Collected:
    """Items gathered over pages, kept once each by id; knows when a page added nothing."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.pages = 0

    def add(self, page: Iterable[dict[str, Any]]) -> int:
        """Add one page; returns how many ids were new. Past ``MAX_PAGES``: inconclusive."""
        self.pages += 1
        if self.pages > MAX_PAGES:
            raise OrderLookupInconclusive(f"history longer than {MAX_PAGES} pages; cut short")
        new = 0
        for item in page:
            key = str(item.get("id"))
            new += key not in self.by_id
            self.by_id[key] = item
        return new

    def since(self, since_ms: int, symbol: str | None = None) -> list[dict[str, Any]]:
        """The items at or after ``since_ms`` (on ``symbol``), oldest first."""
        items = [i for i in self.by_id.values() if int(i.get("timestamp") or 0) >= since_ms
                 and (symbol is None or i.get("symbol") == symbol)]
        return sorted(items, key=lambda i: (int(i.get("timestamp") or 0), str(i.get("id"))))


def matching(orders: Iterable[dict[str, Any]], client_order_id: str) -> dict[str, Any] | None:
    for order in orders:
        if order.get("clientOrderId") == client_order_id and order.get("id"):
            return dict(order)
    return None
