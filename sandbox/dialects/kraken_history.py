"""Kraken's history calls: ``POST /0/private/ClosedOrders`` and ``/0/private/TradesHistory``.

As Kraken serves them: newest first, 50 a page, ``ofs`` the offset of the page and ``count``
the number of matches in all; ``start`` (exclusive) and ``end`` (inclusive) are unix seconds
(or, as on Kraken, an order or trade id: the matches after / up to that item). ClosedOrders
matches an order whose open or close time is in the range (``closetime``: ``open``, ``close``
or ``both``, the default) and filters by ``cl_ord_id`` / ``userref``; ``trades=true`` lists
each order's trade ids. TradesHistory items carry ``ordertxid``, ``pair``, ``time``, ``type``,
``ordertype``, ``price``, ``cost``, ``fee``, ``vol``, ``margin``, ``misc``, ``maker``.
"""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from sandbox.dialects.ids import kraken_trade_txid, kraken_txid
from sandbox.dialects.kraken import (
    KrakenError,
    account_orders,
    ok,
    private,
    render,
    with_trades,
)
from sandbox.orders import Fill, Order
from sandbox.routing import state_of

routes = web.RouteTableDef()
PAGE = 50


def _bound(raw: str, ids: dict[str, float]) -> tuple[float, str] | None:
    """A ``start``/``end`` value: (seconds, "") for a time, (its time, id) for an item's id."""
    if not raw:
        return None
    if raw in ids:
        return ids[raw], raw
    try:
        return float(raw), ""
    except ValueError:
        raise KrakenError("EGeneral:Invalid arguments:start/end") from None


def _page(items: list[tuple[str, float, Any]], params: dict[str, str],
          times: Callable[[Any], tuple[float, ...]]) -> tuple[list[tuple[str, Any]], int]:
    """``items`` (id, sort time, item) in range, newest first; one page at ``ofs``; count.
    A time bound compares ``times(item)``; an id bound the position in (time, id) order."""
    ids = {i: t for i, t, _ in items}
    start, end = _bound(params.get("start", ""), ids), _bound(params.get("end", ""), ids)

    def inside(item_id: str, at: float, item: Any) -> bool:
        if start is not None and start[1] and (at, item_id) <= start:
            return False
        if end is not None and end[1] and (at, item_id) > end:
            return False
        low = start[0] if start is not None and not start[1] else None
        high = end[0] if end is not None and not end[1] else None
        return any((low is None or v > low) and (high is None or v <= high)
                   for v in times(item))
    chosen = [(i, t, x) for i, t, x in items if inside(i, t, x)]
    chosen.sort(key=lambda c: (c[1], c[0]), reverse=True)
    raw = params.get("ofs", "0") or "0"
    if not raw.isdigit():
        raise KrakenError("EGeneral:Invalid arguments:ofs")
    offset = int(raw)
    return [(i, x) for i, _, x in chosen[offset:offset + PAGE]], len(chosen)


def _order_times(closetime: str) -> Callable[[Order], tuple[float, ...]]:
    if closetime not in ("open", "close", "both"):
        raise KrakenError("EGeneral:Invalid arguments:closetime")

    def times(order: Order) -> tuple[float, ...]:
        opened, closed = order.time / 1000, order.update_time / 1000
        return {"open": (opened,), "close": (closed,), "both": (opened, closed)}[closetime]
    return times


@routes.post("/0/private/ClosedOrders")
async def closed_orders(request: web.Request) -> web.Response:
    key, params = await private(request, "ClosedOrders")
    st = state_of(request)
    closed = [(kraken_txid(o.order_id), o.update_time / 1000, o)
              for o in account_orders(st, key, params) if not o.is_open]
    page, count = _page(closed, params, _order_times(params.get("closetime") or "both"))
    body: dict[str, Any] = {"closed": {txid: render(o, st.fixture.markets[o.symbol],
                                                    with_trades(params)) for txid, o in page}}
    if params.get("without_count", "").lower() not in ("true", "1"):
        body["count"] = count
    return ok(body)


def _trade(order: Order, fill: Fill, dp: int) -> dict[str, Any]:
    cost = fill.price * fill.qty
    return {"ordertxid": kraken_txid(order.order_id), "postxid": kraken_trade_txid(fill.trade_id),
            "pair": order.symbol, "time": fill.time / 1000, "type": order.side.lower(),
            "ordertype": order.type.lower(), "price": f"{fill.price:.{dp}f}",
            "cost": f"{cost:.8f}", "fee": f"{fill.commission:.8f}",
            "vol": f"{fill.qty:.8f}", "margin": f"{Decimal(0):.8f}", "misc": "",
            "maker": fill.is_maker, "trade_id": fill.trade_id}


@routes.post("/0/private/TradesHistory")
async def trades_history(request: web.Request) -> web.Response:
    key, params = await private(request, "TradesHistory")
    st = state_of(request)
    if params.get("type", "all") != "all":
        raise KrakenError("EGeneral:Invalid arguments:type")
    trades = [(kraken_trade_txid(f.trade_id), f.time / 1000,
               _trade(o, f, st.fixture.markets[o.symbol].quote_precision))
              for o in account_orders(st, key, {}) for f in o.fills]
    page, count = _page(trades, params, lambda t: (t["time"],))
    return ok({"trades": dict(page), "count": count})
