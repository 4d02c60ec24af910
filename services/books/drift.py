"""Balance drift, pure: how far each asset's balance at the exchange moved from what the
journal explains.

An account holds money the journal never saw (the deposit that funded it, coins bought before
CryptoPiggy), so balances are compared as *changes*: the first check of an account takes a
baseline — its balances and the journal's net movement per asset at that moment — and every
later check compares the change in the balance since the baseline with the change in the
journal's net movement since then. For an account the product trades alone the two agree up
to rounding; anything else (a withdrawal, a deposit, a trade the journal never learnt of) is
drift. Fees are part of the journal's movements (a fee in BTC lowers BTC), so they are never
drift; rounding is allowed ``dust`` per asset plus ``relative`` of the asset's volume traded
since the baseline.

Only LIVE rows count (every origin: an external order moves the balance too), and only rows
made up to the moment the balances were read, so an order placed while the round runs is
not mistaken for drift.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.books.reconcile import LIVE, JournalOrder

DUST = Decimal("0.00000001")
RELATIVE = Decimal("0.0001")


@dataclass(frozen=True)
class Movement:
    """Per asset: the journal's net change and its gross volume (for the rounding allowance)."""

    net: dict[str, Decimal]
    gross: dict[str, Decimal]


@dataclass(frozen=True)
class Baseline:
    """An account's balances and the journal's net movement at one moment."""

    at: datetime
    holdings: dict[str, Decimal]
    net: dict[str, Decimal]
    gross: dict[str, Decimal]

    def view(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "holdings": _texts(self.holdings),
                "net": _texts(self.net), "gross": _texts(self.gross)}

    @classmethod
    def from_view(cls, body: Mapping[str, Any]) -> Baseline:
        def amounts(name: str) -> dict[str, Decimal]:
            return {k: Decimal(str(v)) for k, v in dict(body.get(name) or {}).items()}

        return cls(datetime.fromisoformat(str(body["at"])), amounts("holdings"), amounts("net"),
                   amounts("gross"))


@dataclass(frozen=True)
class Drift:
    """One asset whose balance moved differently from the journal, beyond ``tolerance``."""

    asset: str
    balance: Decimal
    expected: Decimal
    drift: Decimal
    tolerance: Decimal

    def view(self) -> dict[str, str]:
        return {"asset": self.asset, "balance": _t(self.balance), "expected": _t(self.expected),
                "drift": _t(self.drift), "tolerance": _t(self.tolerance)}


def split(symbol: str) -> tuple[str, str]:
    """``BTC/USD`` (or ``BTC/USDT:USDT``) → ("BTC", "USD")."""
    base, _, rest = symbol.partition("/")
    return base, rest.split(":")[0]


def movement(rows: Iterable[JournalOrder], until: datetime | None = None) -> Movement:
    """The journal's net change per asset: a buy adds its filled base and spends its cost in
    the quote, a sell the opposite, every fee leaves in its own currency."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    gross: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row.mode != LIVE or (until is not None and row.created_at > until):
            continue
        if not row.filled and not row.fee:
            continue
        base, quote = split(row.symbol)
        sign = 1 if row.side == "buy" else -1
        for asset, change in ((base, sign * row.filled), (quote, -sign * row.cost),
                              (row.fee_currency, -row.fee)):
            if asset and change:
                net[asset] += change
                gross[asset] += abs(change)
    return Movement(dict(net), dict(gross))


def check(holdings: Mapping[str, Decimal], now: Movement, baseline: Baseline | None,
          at: datetime, *, dust: Decimal = DUST,
          relative: Decimal = RELATIVE) -> tuple[list[Drift], Baseline]:
    """The drift per asset against ``baseline`` (none yet: this check takes it and finds no
    drift), and the baseline to keep."""
    if baseline is None:
        return [], Baseline(at, dict(holdings), dict(now.net), dict(now.gross))
    found: list[Drift] = []
    for asset in sorted(set(holdings) | set(baseline.holdings) | set(now.net)):
        was = baseline.holdings.get(asset, Decimal(0))
        moved = now.net.get(asset, Decimal(0)) - baseline.net.get(asset, Decimal(0))
        expected = was + moved
        balance = holdings.get(asset, Decimal(0))
        traded = now.gross.get(asset, Decimal(0)) - baseline.gross.get(asset, Decimal(0))
        tolerance = dust + relative * traded
        if abs(balance - expected) > tolerance:
            found.append(Drift(asset, balance, expected, balance - expected, tolerance))
    return found, baseline


def _t(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _texts(values: Mapping[str, Decimal]) -> dict[str, str]:
    return {k: _t(v) for k, v in sorted(values.items())}
