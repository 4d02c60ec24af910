"""Journal rows → position entries, and positions as JSON: what the API, the CLI and the
dashboard show. ``entries`` is pure; ``read`` opens one session of the books.

Entries are the journal's orders that filled something, LIVE and PAPER (a refusal fills
nothing). Orders placed outside CryptoPiggy (origin ``external``, found by the reconciler)
count only when ``include_external`` says so (the operator's choice).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from shared.books import queries
from shared.books.models import Order, Origin
from shared.books.positions import Entry, HistoryPoint, Lot, Position, Sale

MODES = ("LIVE", "PAPER")
PriceKey = tuple[str, str, str]  # exchange, asset, quote


def split_symbol(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote.split(":")[0]


def entries(orders: Iterable[Order], *, include_external: bool = False) -> list[Entry]:
    out = []
    for o in orders:
        if o.mode not in MODES or not o.filled or "/" not in o.symbol:
            continue
        if o.origin == Origin.EXTERNAL.value and not include_external:
            continue
        base, quote = split_symbol(o.symbol)
        out.append(Entry(o.created_at, o.user_id, o.exchange, base, quote, o.side, o.mode,
                         o.filled, o.cost, o.fee, o.fee_currency, o.origin,
                         o.order_id or o.client_order_id or o.intent_id or ""))
    return out


def read(books: queries.Books, user_id: str, *,
         include_external: bool = False) -> tuple[list[Entry], bool]:
    """The user's entries and whether the books know the user at all."""
    with books.session() as session:
        rows = queries.orders(session, user_id=user_id)
        known = bool(rows) or queries.user_known(session, user_id)
    return entries(rows, include_external=include_external), known


def price_keys(found: Iterable[Entry]) -> set[PriceKey]:
    return {(e.exchange, e.base, e.quote) for e in found}


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def position_json(p: Position) -> dict[str, Any]:
    return {"exchange": p.exchange, "asset": p.asset, "quote": p.quote, "mode": p.mode,
            "quantity": _num(p.quantity), "cost_basis": _num(p.cost_basis),
            "average_price": _num(p.average_price), "invested": _num(p.invested),
            "withdrawn": _num(p.withdrawn), "realized_pnl": _num(p.realized_pnl),
            "last_price": _num(p.last_price), "value": _num(p.value),
            "unrealized_pnl": _num(p.unrealized_pnl),
            "fees": {k: _num(v) for k, v in p.fees.items()},
            "other_fees": {k: _num(v) for k, v in p.other_fees.items()},
            "method": p.method, "flags": list(p.flags)}


def point_json(p: HistoryPoint) -> dict[str, Any]:
    return {"time": p.time.isoformat(), "mode": p.mode, "quote": p.quote,
            "value": format(p.value, "f"), "invested": format(p.invested, "f")}


def lot_row(lot: Lot) -> dict[str, str]:
    return {"kind": "lot", "time": lot.opened.isoformat(), "exchange": lot.exchange,
            "mode": lot.mode, "asset": lot.asset, "quote": lot.quote,
            "quantity": format(lot.quantity, "f"), "cost_basis": format(lot.cost, "f"),
            "fee": format(lot.fee, "f"), "fee_currency": lot.fee_currency,
            "remaining": format(lot.remaining, "f"),
            "remaining_cost": format(lot.remaining_cost, "f"), "proceeds": "", "gain": "",
            "lots": "", "order": lot.ref}


def sale_row(sale: Sale) -> dict[str, str]:
    return {"kind": "sale", "time": sale.time.isoformat(), "exchange": sale.exchange,
            "mode": sale.mode, "asset": sale.asset, "quote": sale.quote,
            "quantity": format(sale.quantity, "f"), "cost_basis": format(sale.cost_basis, "f"),
            "fee": format(sale.fee, "f"), "fee_currency": sale.fee_currency, "remaining": "",
            "remaining_cost": "", "proceeds": format(sale.proceeds, "f"),
            "gain": format(sale.gain, "f"),
            "lots": " ".join(t.isoformat() for t in sale.lots_opened), "order": sale.ref}


CSV_COLUMNS = ("kind", "time", "exchange", "mode", "asset", "quote", "quantity", "cost_basis",
               "fee", "fee_currency", "remaining", "remaining_cost", "proceeds", "gain", "lots",
               "order")


def prices_for(keys: Iterable[PriceKey],
               found: Mapping[PriceKey, Decimal | None]) -> dict[PriceKey, Decimal]:
    return {k: v for k in keys if (v := found.get(k)) is not None}
