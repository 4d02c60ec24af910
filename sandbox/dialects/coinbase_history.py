"""Coinbase Advanced Trade's history listings, newest first, paged by an opaque ``cursor``:

* ``GET /api/v3/brokerage/orders/historical/batch``: ``order_ids``, ``product_ids`` (and the
  older ``product_id``), ``order_status`` (repeatable), ``order_side``, ``start_date`` /
  ``end_date`` (RFC 3339, on ``created_time``), ``limit`` (default 100, at most 1,000),
  ``cursor`` -> ``{"orders", "sequence", "has_next", "cursor"}``; ``cursor`` is "" on the
  last page.
* ``GET /api/v3/brokerage/orders/historical/fills``: ``order_ids`` (and ``order_id``),
  ``trade_ids``, ``product_ids`` (and ``product_id``), ``start_sequence_timestamp`` /
  ``end_sequence_timestamp``, ``limit`` (default 100, at most 1,000), ``cursor`` ->
  ``{"fills", "cursor"}``; each fill: ``entry_id``, ``trade_id``, ``order_id``, ``trade_time``,
  ``trade_type``, ``price``, ``size`` (base units: ``size_in_quote`` false), ``commission``,
  ``product_id``, ``sequence_timestamp``, ``liquidity_indicator``, ``user_id``, ``side``.

Coinbase lists no filter by client order id: a client id is found by listing and matching.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from sandbox.dialects.coinbase import STATUS, answer, error, iso, private, render
from sandbox.dialects.ids import coinbase_order_id
from sandbox.orders import Fill, Order
from sandbox.routing import state_of

routes = web.RouteTableDef()
V3 = "/api/v3/brokerage"
MAX_LIMIT = 1000


def _ms(raw: str | None, name: str) -> int | None:
    if not raw:
        return None
    try:
        return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise error(400, "INVALID_ARGUMENT", f"{name} must be an RFC 3339 time") from None


def _many(q: MultiMapping[str], *names: str) -> set[str]:
    return {v for n in names for v in q.getall(n, [])}


def _page(items: list[Any], q: MultiMapping[str]) -> tuple[list[Any], str]:
    """One page of ``items`` (newest first) at ``cursor``; the next cursor or ""."""
    raw = q.get("limit", "")
    limit = min(int(raw), MAX_LIMIT) if raw.isdigit() and int(raw) > 0 else 100
    cursor = q.get("cursor", "")
    if cursor and not cursor.isdigit():
        raise error(400, "INVALID_ARGUMENT", "invalid cursor")
    start = int(cursor or 0)
    page = items[start:start + limit]
    return page, str(start + limit) if start + limit < len(items) else ""


def _between(ms: int, q: MultiMapping[str], first: str, last: str) -> bool:
    since, until = _ms(q.get(first), first), _ms(q.get(last), last)
    return (since is None or ms >= since) and (until is None or ms <= until)


@routes.get(f"{V3}/orders/historical/batch")
async def list_orders(request: web.Request) -> web.Response:
    key = await private(request)
    st, q = state_of(request), request.query
    statuses, products = _many(q, "order_status"), _many(q, "product_ids", "product_id")
    ids, side = _many(q, "order_ids"), q.get("order_side", "")
    if "OPEN" in statuses and len(statuses) > 1:
        raise error(400, "INVALID_ARGUMENT", "OPEN cannot be combined with other statuses")
    orders = [o for o in reversed(st.engine.orders.values())
              if o.account_id == key.account_id
              and (not statuses or STATUS.get(o.status) in statuses)
              and (not products or o.symbol in products)
              and (not ids or coinbase_order_id(o.order_id) in ids)
              and (not side or o.side == side)
              and _between(o.time, q, "start_date", "end_date")]
    page, cursor = _page(orders, q)
    return answer({"orders": [render(o) for o in page], "sequence": "0",
                   "has_next": bool(cursor), "cursor": cursor})


def _fill(order: Order, fill: Fill) -> dict[str, Any]:
    trade_id = coinbase_order_id(fill.trade_id)
    return {"entry_id": hashlib.sha256(trade_id.encode()).hexdigest(), "trade_id": trade_id,
            "order_id": coinbase_order_id(order.order_id), "trade_time": iso(fill.time),
            "trade_type": "FILL", "price": f"{fill.price.normalize():f}",
            "size": f"{fill.qty.normalize():f}",
            "commission": f"{fill.commission.normalize():f}" if fill.commission else "0",
            "product_id": order.symbol, "sequence_timestamp": iso(fill.time),
            "liquidity_indicator": "MAKER" if fill.is_maker else "TAKER",
            "size_in_quote": False, "user_id": coinbase_order_id(order.account_id),
            "side": order.side, "retail_portfolio_id": coinbase_order_id(order.account_id)}


def _fills(orders: Iterable[Order]) -> list[tuple[Order, Fill]]:
    pairs = [(o, f) for o in orders for f in o.fills]
    return sorted(pairs, key=lambda p: (p[1].time, p[1].trade_id), reverse=True)


@routes.get(f"{V3}/orders/historical/fills")
async def list_fills(request: web.Request) -> web.Response:
    key = await private(request)
    st, q = state_of(request), request.query
    products = _many(q, "product_ids", "product_id")
    ids, trades = _many(q, "order_ids", "order_id"), _many(q, "trade_ids")
    chosen = [(o, f) for o, f in _fills(o for o in st.engine.orders.values()
                                        if o.account_id == key.account_id)
              if (not products or o.symbol in products)
              and (not ids or coinbase_order_id(o.order_id) in ids)
              and (not trades or coinbase_order_id(f.trade_id) in trades)
              and _between(f.time, q, "start_sequence_timestamp", "end_sequence_timestamp")]
    page, cursor = _page(chosen, q)
    return answer({"fills": [_fill(o, f) for o, f in page], "cursor": cursor})


__all__ = ["routes"]
