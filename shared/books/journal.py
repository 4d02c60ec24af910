"""Trade lines → row values: the journal's pure mapping (no I/O).

A trade line (``TradeLogged``) is the final outcome of one intent, written once by the
executor; it becomes one ``orders`` row keyed by its intent id, and a PAPER fill also one
``fills`` row (``trade_id`` = ``paper-<intent id>``). The values depend on the line alone
(times are the line's, never the clock's), so journaling the same line twice — a replay, a
redelivery, two replicas, ``piggy books rebuild`` — gives the same row. ``store.py`` writes
them with insert-if-absent on the unique keys.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from shared.books.models import Origin
from shared.events import Mode, TradeLogged, TradeStatus

PAPER_TRADE_PREFIX = "paper-"


@dataclass(frozen=True)
class JournalRows:
    """What one batch of trade lines writes."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)  # "intent_id" names the order

    @property
    def intent_ids(self) -> list[str]:
        return [o["intent_id"] for o in self.orders]


def order_values(line: TradeLogged, stream_id: str = "") -> dict[str, Any]:
    """The ``orders`` row of one trade line."""
    return {
        "intent_id": line.intent_id,
        "user_id": line.user_id,
        "exchange": line.exchange,
        "symbol": line.symbol,
        "side": line.side.value,
        "mode": line.mode.value,
        "origin": Origin.PRODUCT.value,
        "amount_usd": line.amount_usd,
        "client_order_id": line.client_order_id or None,
        "order_id": line.order_id or None,
        "status": line.status.value,
        "filled": line.filled,
        "cost": line.cost,
        "fee": line.fee,
        "fee_currency": line.fee_currency,
        "price": line.price,
        "reasons": list(line.reasons),
        "source": line.source,
        "route": line.route,
        "correlation_id": line.correlation_id,
        "event_id": line.event_id,
        "created_at": line.ts,
        "updated_at": line.ts,
        "stream_id": stream_id,
    }


def paper_fill_values(line: TradeLogged) -> dict[str, Any] | None:
    """The ``fills`` row of a filled PAPER line (None for anything else). LIVE trades get
    their rows with the exchange's own trade ids (the reconciler)."""
    if line.mode is not Mode.PAPER or line.status is not TradeStatus.FILLED or line.filled <= 0:
        return None
    price = line.price if line.price is not None else (line.cost / line.filled)
    return {
        "exchange": line.exchange,
        "trade_id": PAPER_TRADE_PREFIX + line.intent_id,
        "intent_id": line.intent_id,
        "order_id": line.order_id or None,
        "client_order_id": line.client_order_id or None,
        "user_id": line.user_id,
        "symbol": line.symbol,
        "side": line.side.value,
        "mode": line.mode.value,
        "price": price,
        "amount": line.filled,
        "cost": line.cost,
        "fee": line.fee,
        "fee_currency": line.fee_currency,
        "at": line.ts,
        "origin": Origin.PRODUCT.value,
    }


def rows_for(lines: list[tuple[str, TradeLogged]]) -> JournalRows:
    """The rows of a batch of (stream entry id, line); a line seen twice in the batch counts
    once (the first: the executor writes one line per intent)."""
    rows = JournalRows()
    seen: set[str] = set()
    for stream_id, line in lines:
        if line.intent_id in seen:
            continue
        seen.add(line.intent_id)
        rows.orders.append(order_values(line, stream_id))
        fill = paper_fill_values(line)
        if fill is not None:
            rows.fills.append(fill)
    return rows


def parse_line(body: Any) -> TradeLogged:
    """A trade line from a decoded stream body; raises ``ValidationError`` (→ dead letter)."""
    return TradeLogged.model_validate(body)


def is_valid(body: Any) -> bool:
    try:
        parse_line(body)
    except ValidationError:
        return False
    return True


def line_of(order: Any) -> dict[str, Any]:
    """An ``orders`` row as a trade-log line in its JSON shape (what ``GET /api/trades``
    returned when it read the stream), plus the journal's ``origin``."""
    return {
        "event_id": order.event_id or f"row-{order.id}",
        "version": 1,
        "ts": order.created_at.isoformat().replace("+00:00", "Z"),
        "correlation_id": order.correlation_id,
        "type": "TradeLogged",
        "intent_id": order.intent_id or "",
        "user_id": order.user_id,
        "exchange": order.exchange,
        "symbol": order.symbol,
        "side": order.side,
        "amount_usd": _text(order.amount_usd if order.amount_usd is not None else Decimal(0)),
        "mode": order.mode,
        "status": order.status,
        "order_id": order.order_id or "",
        "client_order_id": order.client_order_id or "",
        "price": _text(order.price) if order.price is not None else None,
        "filled": _text(order.filled),
        "cost": _text(order.cost),
        "fee": _text(order.fee),
        "fee_currency": order.fee_currency,
        "reasons": list(order.reasons or []),
        "source": order.source,
        "route": order.route,
        "origin": order.origin,
    }


def as_trade_line(order: Any) -> TradeLogged:
    """An ``orders`` row as a ``TradeLogged`` (for code that prints trade lines)."""
    body = line_of(order)
    body.pop("origin")
    if body["mode"] not in {m.value for m in Mode}:
        body["mode"] = Mode.NONE.value
    if body["status"] not in {s.value for s in TradeStatus}:
        body["status"] = TradeStatus.UNKNOWN.value
    return TradeLogged.model_validate(body)


def _text(amount: Decimal) -> str:
    return format(amount, "f")
