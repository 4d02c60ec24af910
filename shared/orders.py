"""Placing an order through an exchange adapter with a client order id, and finding it again.

Used by the gateway and by the executor's direct path, so it knows nothing of either: give it
the exchange's adapter, a ccxt async client, the ccxt market dict, a ``placement.Plan`` and the
client order id the exchange will see.

* A plan is a market order by quote amount (the adapter's buy by cost) or by base quantity
  (when the quote order would land below the minimum after the exchange's rounding), sent once.
* A placement is never retried blind. After a timeout, a dropped connection, a 5xx, an
  "execution status unknown" answer, an empty answer or a "Duplicate order sent" refusal, the
  order is looked up by its client order id, and what the exchange has is the result. "No such
  order" is concluded only when the adapter proves it (the exchange's own lookup, or its
  history paged back past ``since``, the request's creation time); a lookup that cannot prove
  it (``OrderLookupInconclusive``, or a read that keeps failing) leaves the order ``unknown``.
* Reads (the lookup here; balances, tickers, markets elsewhere) retry transient errors with
  backoff through ``retry_read``, the one retry loop of the project's exchange code.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from shared.events import RejectCategory
from shared.exchanges.base import (
    Classified,
    ExchangeAdapter,
    OrderLookupInconclusive,
    is_transient,
)
from shared.placement import Plan

log = logging.getLogger("piggy.orders")
T = TypeVar("T")
Outcome = Literal["placed", "rejected", "unknown"]


@dataclass(frozen=True)
class PlacementResult:
    """``placed``: ``order`` is the exchange's (ccxt-parsed) order. ``rejected``: the exchange
    has no such order; ``error`` says why. ``unknown``: the order may exist and could not be
    looked up; whoever retries must look it up first."""

    outcome: Outcome
    client_order_id: str
    order: dict[str, Any] | None = None
    error: Classified | None = None
    looked_up: bool = False
    rtt_ms: float | None = None

    @property
    def order_id(self) -> str:
        return str((self.order or {}).get("id") or "")


async def retry_read(call: Callable[[], Awaitable[T]], *, attempts: int = 3,
                     base_delay: float = 0.2, max_delay: float = 2.0,
                     sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                     retryable: Callable[[BaseException], bool] = is_transient) -> T:
    """Run a read, retrying transient exchange errors with exponential backoff."""
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except Exception as exc:
            if attempt >= attempts or not retryable(exc):
                raise
            delay = min(max_delay, base_delay * 2 ** (attempt - 1))
            log.info("transient %s on read (attempt %d/%d), retrying in %.2fs",
                     type(exc).__name__, attempt, attempts, delay)
            await sleep(delay)
    raise AssertionError("unreachable")


async def lookup_order(adapter: ExchangeAdapter, client: Any, symbol: str,
                       client_order_id: str, *, since: datetime | None = None,
                       attempts: int = 3) -> dict[str, Any] | None:
    """The exchange's order with this client order id, or None when the exchange proves it has
    none. ``since``: when the order was requested (the adapter pages back to it). Raises
    ``OrderLookupInconclusive`` when absence cannot be proven, a failed read included."""
    try:
        return await retry_read(
            lambda: adapter.find_order(client, symbol, client_order_id, since),
            attempts=attempts, retryable=adapter.is_retryable_read)
    except OrderLookupInconclusive:
        raise
    except Exception as exc:
        raise OrderLookupInconclusive(
            f"lookup failed: {adapter.classify(exc).message}") from exc


async def _send(adapter: ExchangeAdapter, client: Any, symbol: str, side: str, plan: Plan,
                client_order_id: str) -> dict[str, Any]:
    if side == "buy" and plan.kind == "cost":
        return await adapter.buy_with_cost(client, symbol, plan.cost, client_order_id)
    if plan.quantity is None:
        raise ValueError("a base-quantity order needs a quantity")
    if side == "buy":
        return await adapter.buy_quantity(client, symbol, plan.quantity, client_order_id,
                                          plan.price or Decimal(0))
    return await adapter.sell_quantity(client, symbol, plan.quantity, client_order_id)


async def place_order(adapter: ExchangeAdapter, client: Any, market: dict[str, Any], side: str,
                      plan: Plan, client_order_id: str, *, lookup_tries: int = 3,
                      lookup_delay: float = 0.25,
                      since: datetime | None = None) -> PlacementResult:
    """Send one market order; resolve any ambiguity by lookup, never by resend. ``since``:
    when the order was requested (bounds the lookup's paging; None = the whole history)."""
    symbol = market["symbol"]
    started = time.perf_counter()
    try:
        order = await _send(adapter, client, symbol, side, plan, client_order_id)
    except Exception as exc:
        rtt = (time.perf_counter() - started) * 1000
        if not adapter.is_ambiguous(exc):
            return PlacementResult("rejected", client_order_id, error=adapter.classify(exc),
                                   rtt_ms=rtt)
        log.warning("placement of %s on %s ended with %s; looking it up by client order id",
                    client_order_id, symbol, type(exc).__name__)
        return await _resolve(adapter, client, symbol, client_order_id, adapter.classify(exc),
                              rtt, lookup_tries, lookup_delay, since)
    rtt = (time.perf_counter() - started) * 1000
    if not order or not order.get("id"):  # a 200 with an empty or unparseable body
        empty = Classified(RejectCategory.UNAVAILABLE, "", "empty answer to the order request")
        return await _resolve(adapter, client, symbol, client_order_id, empty, rtt,
                              lookup_tries, lookup_delay, since)
    order = await adapter.complete(client, symbol, order)
    return PlacementResult("placed", client_order_id, order=order, rtt_ms=rtt)


async def _resolve(adapter: ExchangeAdapter, client: Any, symbol: str, cid: str,
                   cause: Classified, rtt: float, tries: int, delay: float,
                   since: datetime | None) -> PlacementResult:
    for attempt in range(1, tries + 1):
        try:
            found = await lookup_order(adapter, client, symbol, cid, since=since)
        except OrderLookupInconclusive as exc:
            return PlacementResult("unknown", cid, error=Classified(
                RejectCategory.UNAVAILABLE, cause.code or "lookup_inconclusive",
                f"order status unknown after '{cause.message}'; the exchange could not prove "
                f"it has no order with client id {cid} ({exc}); not re-sent"),
                looked_up=True, rtt_ms=rtt)
        if found is not None:
            found = await adapter.complete(client, symbol, found)
            return PlacementResult("placed", cid, order=found, looked_up=True, rtt_ms=rtt)
        if attempt < tries:
            await asyncio.sleep(delay)
    return PlacementResult("rejected", cid, error=Classified(
        cause.category if cause.category != RejectCategory.UNKNOWN else RejectCategory.UNAVAILABLE,
        cause.code, f"{cause.message} (the exchange has no order with client id {cid}; "
                    "not re-sent)"), looked_up=True, rtt_ms=rtt)
