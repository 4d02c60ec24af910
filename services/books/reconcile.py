"""Reconciliation with the exchange, as pure decisions: the journal's rows and the exchange's
own orders and fills in, one finding per difference out. No I/O here (``reconciler.py`` does
the fetching and the writing); the clock and the exchange's client-id form are passed in.

What the exchange says wins. For one user on one exchange, over a window ``[since, now]``:

* an exchange order the journal holds (same client order id as the exchange saw it, or same
  exchange order id) with the same status, filled, cost and fee → ``matched``;
* the same order with other numbers → ``mismatch`` (the row takes the exchange's numbers; the
  audit keeps both);
* the journal said ``unknown`` or ``rejected … not re-sent`` and the exchange has the order →
  ``resolved`` (to the exchange's numbers);
* the journal said ``unknown``, the window covers the intent and no order came → ``absent``
  (the row becomes ``rejected``: the exchange's history proves nothing was placed);
* an order with CryptoPiggy's client id that the journal lacks (a database lost, a line
  never journaled) → ``missing_order`` (recorded as the product's);
* an order with any other client id → ``external`` (placed by hand or by another program;
  recorded with origin ``external``, counted in positions only when the operator says so);
* a second exchange order with a client id already matched → ``duplicate`` (the same intent
  placed twice: recorded as its own row, without the client id the first one holds);
* an exchange trade whose trade id the journal lacks → ``missing_fill`` (recorded);
* a LIVE row with an exchange order id that the exchange's history lacks →
  ``not_at_exchange`` (reported, nothing changed: only the exchange can say what happened).

Balance drift is in ``services/books/drift.py``.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import replace
from decimal import Decimal

from services.books.findings import (
    ALERTING,
    CHANGES_JOURNAL,
    EXTERNAL,
    LIVE,
    PRODUCT,
    Finding,
    JournalOrder,
    Kind,
    OrderValues,
    Report,
    Window,
    text,
)
from shared.events import TradeStatus
from shared.exchanges.venue import VenueFill, VenueOrder

__all__ = ["ALERTING", "CHANGES_JOURNAL", "EXTERNAL", "LIVE", "PRODUCT", "Finding",
           "JournalOrder", "Kind", "OrderValues", "Report", "Window", "canonical_id",
           "corrected", "reconcile"]

PRODUCT_ID = re.compile(r"^pg-[0-9a-f]{32}$")
PROBE = "pg-" + "0" * 32
UNSETTLED = frozenset({TradeStatus.UNKNOWN.value, TradeStatus.REJECTED.value})
# float noise from a ccxt parse is far below this; any real difference is far above it
SAME_RELATIVE = Decimal("1e-12")


def canonical_id(venue_cid: str | None, sent_as: Callable[[str], str]) -> str | None:
    """CryptoPiggy's own client order id (``pg-`` + 32 hex) behind the id the exchange holds,
    or None when the order is not the product's. ``sent_as`` is the adapter's
    ``client_order_id``: on an exchange that takes a UUID (kraken) a UUID is read back into
    the ``pg-`` form it was made from."""
    if not venue_cid:
        return None
    if PRODUCT_ID.match(venue_cid):
        return venue_cid
    if sent_as(PROBE) == PROBE:
        return None
    try:
        canonical = "pg-" + uuid.UUID(venue_cid).hex
    except ValueError:
        return None
    return canonical if sent_as(canonical) == venue_cid else None


def status_of(order: VenueOrder) -> str:
    """The exchange's status as a trade-log status word (ccxt ``closed`` = ``filled``)."""
    return TradeStatus.from_exchange(str(order.status)).value


def values_of(order: VenueOrder, client_order_id: str, origin: str) -> OrderValues:
    return OrderValues(client_order_id=client_order_id, order_id=order.order_id,
                       symbol=order.symbol, side=str(order.side), status=status_of(order),
                       amount=order.amount, filled=order.filled, cost=order.cost,
                       fee=order.fee, fee_currency=order.fee_currency if order.fee else "",
                       created_at=order.created_at, origin=origin)


def numbers_of(row: JournalOrder) -> dict[str, str]:
    return {"status": row.status, "order_id": row.order_id, "filled": text(row.filled),
            "cost": text(row.cost), "fee": text(row.fee),
            "fee_currency": row.fee_currency if row.fee else ""}


def same(a: Decimal, b: Decimal) -> bool:
    return a == b or abs(a - b) <= SAME_RELATIVE * max(abs(a), abs(b))


def differences(row: JournalOrder, want: OrderValues) -> list[str]:
    """The fields where the row and the exchange disagree."""
    out = [name for name, mine, theirs in (("filled", row.filled, want.filled),
                                           ("cost", row.cost, want.cost),
                                           ("fee", row.fee, want.fee)) if not same(mine, theirs)]
    if row.status != want.status:
        out.insert(0, "status")
    if row.order_id != want.order_id:
        out.append("order_id")
    if want.fee and row.fee_currency != want.fee_currency:
        out.append("fee_currency")
    return out


def _judge(row: JournalOrder, order: VenueOrder) -> Finding:
    want = values_of(order, row.client_order_id, row.origin)
    changed = differences(row, want)
    if not changed:
        return Finding(Kind.MATCHED, row.client_order_id, order.order_id, order.symbol,
                       "the exchange agrees", row.intent_id)
    kind = Kind.RESOLVED if row.status in UNSETTLED else Kind.MISMATCH
    said = f"the journal said {row.status}" + (f", filled {text(row.filled)}"
                                               if row.status not in UNSETTLED else "")
    note = (f"{said}; the exchange's order {order.order_id} is {want.status}, filled "
            f"{text(want.filled)} for {text(want.cost)}, fee {text(want.fee)} "
            f"{want.fee_currency}".rstrip() + f" (differs in {', '.join(changed)}); "
            "the exchange's numbers win")
    return Finding(kind, row.client_order_id, order.order_id, order.symbol, note, row.intent_id,
                   before=numbers_of(row), after=want.numbers(), order=want)


def _duplicate(order: VenueOrder, first: Finding) -> Finding:
    want = values_of(order, "", PRODUCT)
    return Finding(Kind.DUPLICATE, "", order.order_id, order.symbol,
                   f"order {order.order_id} carries client id {order.client_order_id}, which "
                   f"order {first.order_id} already holds: the same intent placed twice; "
                   "recorded as its own row from the exchange's order history",
                   intent_id=first.intent_id, after=want.numbers(), order=want)


def _unmatched_venue_order(order: VenueOrder, sent_as: Callable[[str], str]) -> Finding:
    canonical = canonical_id(order.client_order_id, sent_as)
    if canonical is not None:
        want = values_of(order, canonical, PRODUCT)
        return Finding(Kind.MISSING_ORDER, canonical, order.order_id, order.symbol,
                       f"CryptoPiggy's order {order.order_id} ({canonical}) is at the exchange "
                       "but not in the journal; recorded from the exchange's order history",
                       after=want.numbers(), order=want)
    cid = order.client_order_id or ""
    want = values_of(order, cid, EXTERNAL)
    who = f"client id {cid}" if cid else "no client id"
    return Finding(Kind.EXTERNAL, cid, order.order_id, order.symbol,
                   f"order {order.order_id} ({who}) was placed outside CryptoPiggy; recorded "
                   "with origin external from the exchange's order history",
                   after=want.numbers(), order=want)


def _unmatched_row(row: JournalOrder, window: Window) -> Finding | None:
    """A LIVE row the exchange's history (which covers it) does not hold."""
    if not window.covers(row):
        return None
    if row.status == TradeStatus.UNKNOWN.value:
        if row.created_at > window.now - window.absent_after:
            return None
        after = {**numbers_of(row), "status": TradeStatus.REJECTED.value}
        return Finding(Kind.ABSENT, row.client_order_id, row.order_id, row.symbol, (
            f"the outcome was unknown; the exchange's order history since "
            f"{window.since.isoformat()} has no order with client id {row.client_order_id}: "
            "nothing was placed"), row.intent_id, before=numbers_of(row), after=after)
    if row.order_id and row.status not in UNSETTLED:
        return Finding(Kind.NOT_AT_EXCHANGE, row.client_order_id, row.order_id, row.symbol, (
            f"the journal holds order {row.order_id} ({row.status}) but the exchange's order "
            f"history since {window.since.isoformat()} does not; check the account"),
            row.intent_id)
    return None


def reconcile(*, user_id: str, exchange: str, journal: Sequence[JournalOrder],
              journal_trade_ids: Collection[str], orders: Iterable[VenueOrder],
              fills: Iterable[VenueFill], window: Window,
              sent_as: Callable[[str], str]) -> Report:
    """Every finding for one user on one exchange over ``window`` (drift not included)."""
    rows = [r for r in journal if r.mode == LIVE]
    by_cid = {sent_as(r.client_order_id): r for r in rows if r.client_order_id
              and r.origin != EXTERNAL}
    by_cid |= {r.client_order_id: r for r in rows if r.client_order_id and r.origin == EXTERNAL}
    by_oid = {r.order_id: r for r in rows if r.order_id}
    unique = {o.order_id: o for o in orders}  # pages overlap: one order, one finding
    ordered = sorted(unique.values(), key=lambda o: (o.created_at, o.order_id))
    # the exchange's order id first (what the journal already knows), then the client id
    judged: dict[str, Finding] = {o.order_id: _judge(by_oid[o.order_id], o)
                                  for o in ordered if o.order_id in by_oid}
    of_row = {id(by_oid[oid]): judged[oid] for oid in judged}  # row → its exchange order
    first_of: dict[str, Finding] = {}  # client id → the finding of its first exchange order
    for order in ordered:
        cid = order.client_order_id or ""
        if cid and order.order_id in judged:
            first_of.setdefault(cid, judged[order.order_id])
    for order in ordered:
        if order.order_id in judged:
            continue
        cid = order.client_order_id or ""
        row = by_cid.get(cid) if cid else None
        if cid in first_of:
            found = _duplicate(order, first_of[cid])
        elif row is not None and id(row) in of_row:  # its client id is held by a matched row
            found = _duplicate(order, of_row[id(row)])
        elif row is not None:
            found = of_row[id(row)] = _judge(row, order)
        else:
            found = _unmatched_venue_order(order, sent_as)
        judged[order.order_id] = found
        if cid:
            first_of.setdefault(cid, found)
    findings = [judged[o.order_id] for o in ordered]
    for row in rows:
        if id(row) not in of_row and (missing := _unmatched_row(row, window)) is not None:
            findings.append(missing)
    known = set(journal_trade_ids)
    for fill in fills:
        if fill.trade_id in known:
            continue
        known.add(fill.trade_id)
        findings.append(Finding(
            Kind.MISSING_FILL, str(getattr(fill, "client_order_id", "") or ""), fill.order_id,
            str(getattr(fill, "symbol", "")),
            f"trade {fill.trade_id} of order {fill.order_id} recorded from the exchange's "
            "trade history", after=_fill_view(fill), fill=fill))
    return Report(user_id, exchange, window.since, window.now, tuple(findings))


def corrected(journal: Sequence[JournalOrder], report: Report) -> list[JournalOrder]:
    """The journal as it is once the report's corrections are applied (for the drift check,
    before anything is written)."""
    by_cid = {r.client_order_id: r for r in journal if r.client_order_id}
    by_oid = {r.order_id: r for r in journal if r.order_id}
    out = {id(r): r for r in journal}
    for f in report.findings:
        if f.order is None and f.kind is not Kind.ABSENT:
            continue
        row = by_oid.get(f.order_id)
        if row is None and f.kind not in (Kind.DUPLICATE, Kind.EXTERNAL, Kind.MISSING_ORDER):
            row = by_cid.get(f.client_order_id)
        if f.kind is Kind.ABSENT and row is not None:
            out[id(row)] = replace(row, status=TradeStatus.REJECTED.value)
        elif f.order is not None and row is not None:
            o = f.order
            out[id(row)] = replace(row, status=o.status, order_id=o.order_id, filled=o.filled,
                                   cost=o.cost, fee=o.fee, fee_currency=o.fee_currency)
        elif f.order is not None:
            o = f.order
            out[id(o)] = JournalOrder(o.client_order_id, o.order_id, o.symbol, o.side, LIVE,
                                      o.status, o.filled, o.cost, o.fee, o.fee_currency,
                                      o.created_at, o.origin)
    return list(out.values())


def _fill_view(fill: VenueFill) -> dict[str, str]:
    names = ("trade_id", "order_id", "symbol", "side", "price", "amount", "cost", "fee",
             "fee_currency", "at")
    return {n: text(getattr(fill, n)) for n in names if getattr(fill, n, None) is not None}
