"""Reconciliation's vocabulary: the finding kinds, a journal row as the reconciler sees it,
the exchange's numbers a row must take, a finding, the window asked about and the report.
Values only; the decisions are in ``reconcile.py``, the balance drift in ``drift.py``."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

LIVE = "LIVE"
PRODUCT = "product"  # shared.books.models.Origin values
EXTERNAL = "external"


class Kind(StrEnum):
    MATCHED = "matched"
    MISMATCH = "mismatch"
    RESOLVED = "resolved"
    ABSENT = "absent"
    MISSING_ORDER = "missing_order"
    EXTERNAL = "external"
    DUPLICATE = "duplicate"
    MISSING_FILL = "missing_fill"
    NOT_AT_EXCHANGE = "not_at_exchange"


CHANGES_JOURNAL = frozenset({Kind.MISMATCH, Kind.RESOLVED, Kind.ABSENT, Kind.MISSING_ORDER,
                             Kind.EXTERNAL, Kind.DUPLICATE, Kind.MISSING_FILL})
ALERTING = frozenset({Kind.MISMATCH, Kind.RESOLVED, Kind.ABSENT, Kind.MISSING_ORDER,
                      Kind.EXTERNAL, Kind.DUPLICATE, Kind.NOT_AT_EXCHANGE})


@dataclass(frozen=True)
class JournalOrder:
    """What reconciliation needs of one journal row (``reconciler.py`` maps the ORM row)."""

    client_order_id: str
    order_id: str
    symbol: str
    side: str
    mode: str
    status: str
    filled: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: str
    created_at: datetime
    origin: str = PRODUCT
    intent_id: str = ""


@dataclass(frozen=True)
class OrderValues:
    """What a journal row must hold after a finding: the exchange's numbers."""

    client_order_id: str
    order_id: str
    symbol: str
    side: str
    status: str
    amount: Decimal | None
    filled: Decimal
    cost: Decimal
    fee: Decimal
    fee_currency: str
    created_at: datetime
    origin: str = PRODUCT

    def numbers(self) -> dict[str, str]:
        return {"status": self.status, "order_id": self.order_id, "filled": text(self.filled),
                "cost": text(self.cost), "fee": text(self.fee),
                "fee_currency": self.fee_currency}


@dataclass(frozen=True)
class Finding:
    """One difference (or agreement) and what it changes. ``order``: the row as it must be
    (None: no row changes); ``fill``: an exchange trade to record; ``before``/``after``: the
    numbers for the audit row; ``note``: where it came from, in words."""

    kind: Kind
    client_order_id: str
    order_id: str
    symbol: str
    note: str
    intent_id: str = ""
    before: dict[str, str] | None = None
    after: dict[str, str] | None = None
    order: OrderValues | None = None
    fill: Any = None  # a VenueFill (the adapters' frozen dataclass)

    def view(self) -> dict[str, Any]:
        """The finding as plain JSON values (the report, the audit row, the alert)."""
        return {"kind": self.kind.value, "client_order_id": self.client_order_id,
                "order_id": self.order_id, "symbol": self.symbol, "intent_id": self.intent_id,
                "before": self.before, "after": self.after, "note": self.note}


@dataclass(frozen=True)
class Window:
    """What the exchange was asked about: orders and fills created since ``since``, asked at
    ``now``. ``margin``: rows this close to ``since`` are not judged absent (their exchange
    time may fall just before it); ``absent_after``: an ``unknown`` row younger than this is
    left alone (a gateway may still be placing it)."""

    since: datetime
    now: datetime
    margin: timedelta = timedelta(minutes=5)
    absent_after: timedelta = timedelta(minutes=10)

    def covers(self, row: JournalOrder) -> bool:
        return row.created_at >= self.since + self.margin


@dataclass(frozen=True)
class Report:
    user_id: str
    exchange: str
    since: datetime
    now: datetime
    findings: tuple[Finding, ...] = ()
    drift: tuple[Any, ...] = ()  # drift.Drift, per asset beyond tolerance
    errors: tuple[str, ...] = field(default_factory=tuple)

    def counts(self) -> dict[str, int]:
        out = {k.value: 0 for k in Kind}
        for f in self.findings:
            out[f.kind.value] += 1
        return out

    def corrections(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in CHANGES_JOURNAL]

    def alerting(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in ALERTING]

    @property
    def clean(self) -> bool:
        return not self.alerting() and not self.drift and not self.errors

    def view(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "exchange": self.exchange,
                "since": self.since.isoformat(), "now": self.now.isoformat(),
                "counts": self.counts(), "clean": self.clean,
                "findings": [f.view() for f in self.findings if f.kind is not Kind.MATCHED],
                "drift": [d.view() for d in self.drift], "errors": list(self.errors)}


def text(value: Any) -> str:
    """A Decimal in plain notation (``0`` for zero), a datetime in ISO form."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
