"""What the admin API does to a venue from outside the product: an order placed by hand (on the
exchange's website, by another bot) and order answers lost for one key.

``place_external`` fills a market order directly in the venue's book for a key's account, with
or without a client order id, dressed as that venue's own orders are (kraken ``oflags`` and
description, coinbase ``order_configuration``), so every dialect lists and reports it like any
other. ``drop_answers`` adds a ``lost_response`` fault scoped to one key on the venue's order
endpoint: the next ``count`` placements take effect and their answers are held ``hold_ms``,
then the connection is closed.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from sandbox import errors
from sandbox.auth import ApiKey
from sandbox.faults import FaultRule
from sandbox.orders import Order
from sandbox.rules import market_request
from sandbox.state import SandboxState

ORDER_ENDPOINT = {"kraken": "POST /0/private/AddOrder",
                  "coinbase": "POST /api/v3/brokerage/orders"}
BINANCE_ORDER_ENDPOINT = "POST /api/v3/order"
DEFAULT_HOLD_MS = 30_000


class ExternalOrderError(ValueError):
    """The order could not be placed: bad arguments, or the venue refused it (funds, minimum)."""


def place_external(st: SandboxState, key: ApiKey, symbol: str, side: str, *,
                   quote: Decimal | None = None, qty: Decimal | None = None,
                   client_order_id: str | None = None) -> Order:
    """A filled market order for ``key``'s account, as if placed outside the product."""
    spec = st.fixture.markets.get(symbol)
    if spec is None:
        raise ExternalOrderError(f"unknown symbol {symbol!r}")
    side = side.upper()
    if side not in ("BUY", "SELL"):
        raise ExternalOrderError("side must be BUY or SELL")
    if (quote is None) == (qty is None):
        raise ExternalOrderError("exactly one of quote_qty and qty")
    if quote is not None and side == "SELL":
        raise ExternalOrderError("quote_qty is for market buys; sell a qty")
    price = st.feed.price(symbol)
    fee_rate = st.venue.fee_rate if st.venue.fee_in_quote else Decimal(0)
    try:
        req = market_request(spec, side, price, qty=qty, quote=quote,
                             client_order_id=client_order_id or None, quote_fee_rate=fee_rate)
        order = st.engine.place_request(key, req, {"external": True},
                                        unique_cid=st.name != "kraken")
    except errors.BinanceError as exc:
        raise ExternalOrderError(f"refused by the venue: {exc.msg}") from None
    _dress(st, order, spec.info, quote, qty, client_order_id)
    return order


def _dress(st: SandboxState, order: Order, info: dict[str, Any], quote: Decimal | None,
           qty: Decimal | None, client_order_id: str | None) -> None:
    """The extras each dialect renders from, as its own placement would have set them."""
    order.extra["external"] = True
    if st.name == "kraken":
        volume = quote if quote is not None else qty
        order.extra.update(cl_ord_id=client_order_id or None, userref=None,
                           oflags="viqc,fciq" if quote is not None else "fciq",
                           descr=f"{order.side.lower()} {volume} {info.get('altname', '')} "
                                 "@ market")
    elif st.name == "coinbase":
        size = {"quote_size": f"{quote}"} if quote is not None else {"base_size": f"{qty}"}
        order.extra["order_configuration"] = {"market_market_ioc": size}


def drop_answers(st: SandboxState, api_key: str, count: int,
                 hold_ms: int = DEFAULT_HOLD_MS) -> FaultRule:
    """Lose the answers of ``api_key``'s next ``count`` order placements (they are placed)."""
    if count < 1:
        raise ValueError("count must be >= 1")
    if hold_ms < 0:
        raise ValueError("hold_ms must be >= 0")
    endpoint = ORDER_ENDPOINT.get(st.name, BINANCE_ORDER_ENDPOINT)
    return st.faults.add({"endpoint": endpoint, "kind": "lost_response", "count": count,
                          "latency_ms": hold_ms, "api_key": api_key})
