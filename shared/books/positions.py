"""Positions and PnL from a user's journal entries. Pure: values in, values out; no I/O.

Method: **FIFO lots**, per (user, exchange, asset, quote currency, mode) — LIVE and PAPER are
never mixed, and BTC bought for USD is a different position from BTC bought for USDT (its cost
is in another currency).

* A buy opens a lot. A fee charged in the base currency (binance's buys) is subtracted from the
  lot's quantity — what the account really received. A fee in the quote currency (coinbase,
  kraken) is added to the lot's cost. A fee in any other currency (BNB) is not converted: the
  lot's cost leaves it out, it is listed in ``other_fees`` and the position is flagged.
* A sell consumes the oldest lots first. Its proceeds are what it brought in, less a fee in the
  quote currency; a fee in the base currency is taken from the holding as well. Its cost basis
  is the consumed share of each lot's cost, to 1e-12 (what is left of a lot keeps exactly the
  rest, so no cost is created or lost by the division); its realized PnL is proceeds minus cost basis. A
  sell of more than the journal holds is matched as far as it goes and flagged.
* Unrealized PnL is value at a given last price minus the cost basis of what is held.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

METHOD = "FIFO"
ZERO = Decimal(0)
SHARE = Decimal("1e-12")  # a partly sold lot's cost share, far finer than any currency's unit

PositionKey = tuple[str, str, str, str, str]  # user, exchange, asset, quote, mode


@dataclass(frozen=True)
class Entry:
    """One fill from the journal: ``quantity`` base units traded for ``cost`` quote units
    (before the fee), and the fee as the exchange charged it."""

    time: datetime
    user: str
    exchange: str
    base: str
    quote: str
    side: str  # "buy" | "sell"
    mode: str  # "LIVE" | "PAPER"
    quantity: Decimal
    cost: Decimal
    fee: Decimal = ZERO
    fee_currency: str = ""
    origin: str = "journal"  # where the row came from: journal, reconciled, external...
    ref: str = ""  # the order id, for the export

    @property
    def key(self) -> PositionKey:
        return (self.user, self.exchange, self.base, self.quote, self.mode)


@dataclass(frozen=True)
class Lot:
    """One buy: what it brought in and, after the sells so far, what is left of it."""

    opened: datetime
    exchange: str
    asset: str
    quote: str
    mode: str
    quantity: Decimal  # received, net of a fee in the base currency
    cost: Decimal  # paid, with a fee in the quote currency
    fee: Decimal
    fee_currency: str
    remaining: Decimal
    remaining_cost: Decimal
    ref: str = ""


@dataclass(frozen=True)
class Sale:
    """One sell matched against lots: its gain is ``proceeds - cost_basis``."""

    time: datetime
    exchange: str
    asset: str
    quote: str
    mode: str
    quantity: Decimal  # base units taken from the holding (with a fee in base)
    proceeds: Decimal  # brought in, less a fee in the quote currency
    cost_basis: Decimal
    gain: Decimal
    fee: Decimal
    fee_currency: str
    lots_opened: tuple[datetime, ...]  # the lots it consumed, oldest first
    unmatched: Decimal = ZERO  # sold beyond what the journal held
    ref: str = ""


@dataclass(frozen=True)
class Position:
    user: str
    exchange: str
    asset: str
    quote: str
    mode: str
    quantity: Decimal
    cost_basis: Decimal  # of the quantity held, fees included
    average_price: Decimal | None  # cost_basis / quantity
    invested: Decimal  # money put in: every buy's cost with its quote fee
    withdrawn: Decimal  # money taken out: every sell's proceeds
    realized_pnl: Decimal
    fees: Mapping[str, Decimal]  # every fee paid, by currency
    other_fees: Mapping[str, Decimal]  # fees in a third currency, not converted into the cost
    last_price: Decimal | None = None
    value: Decimal | None = None
    unrealized_pnl: Decimal | None = None
    flags: tuple[str, ...] = ()
    method: str = METHOD


@dataclass
class _Book:
    """The running state of one position while entries are applied."""

    lots: list[Lot] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)
    invested: Decimal = ZERO
    withdrawn: Decimal = ZERO
    fees: dict[str, Decimal] = field(default_factory=dict)
    other_fees: dict[str, Decimal] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    @property
    def quantity(self) -> Decimal:
        return sum((lot.remaining for lot in self.lots), ZERO)

    @property
    def cost_basis(self) -> Decimal:
        return sum((lot.remaining_cost for lot in self.lots), ZERO)


@dataclass(frozen=True)
class Books:
    positions: tuple[Position, ...]
    lots: tuple[Lot, ...]
    sales: tuple[Sale, ...]


def _fee_part(e: Entry) -> tuple[Decimal, Decimal, Decimal]:
    """The fee as (base units, quote units, other-currency units)."""
    if not e.fee:
        return ZERO, ZERO, ZERO
    currency = e.fee_currency.upper()
    if currency == e.base.upper():
        return e.fee, ZERO, ZERO
    if currency in (e.quote.upper(), ""):  # an exchange naming no currency charges the quote
        return ZERO, e.fee, ZERO
    return ZERO, ZERO, e.fee


def _note(book: _Book, e: Entry, other: Decimal) -> None:
    if e.fee:
        currency = e.fee_currency or e.quote
        book.fees[currency] = book.fees.get(currency, ZERO) + e.fee
    if other:
        book.other_fees[e.fee_currency] = book.other_fees.get(e.fee_currency, ZERO) + other
        flag = (f"fee in {e.fee_currency} (neither {e.base} nor {e.quote}) is not converted "
                "into the cost basis")
        if flag not in book.flags:
            book.flags.append(flag)


def _buy(book: _Book, e: Entry) -> None:
    in_base, in_quote, other = _fee_part(e)
    _note(book, e, other)
    quantity, cost = e.quantity - in_base, e.cost + in_quote
    book.invested += cost
    book.lots.append(Lot(e.time, e.exchange, e.base, e.quote, e.mode, quantity, cost, e.fee,
                         e.fee_currency, quantity, cost, e.ref))


def _sell(book: _Book, e: Entry) -> None:
    in_base, in_quote, other = _fee_part(e)
    _note(book, e, other)
    wanted = e.quantity + in_base
    left, basis, opened = wanted, ZERO, []
    lots: list[Lot] = []
    for lot in book.lots:
        if left <= 0 or lot.remaining <= 0:
            lots.append(lot)
            continue
        take = min(left, lot.remaining)
        share = lot.remaining_cost if take == lot.remaining else (
            lot.remaining_cost * take / lot.remaining).quantize(SHARE)
        basis += share
        left -= take
        opened.append(lot.opened)
        lots.append(replace(lot, remaining=lot.remaining - take,
                            remaining_cost=lot.remaining_cost - share))
    book.lots = lots
    if left > 0:
        book.flags.append(f"a sell at {e.time.isoformat()} sold {_txt(left)} {e.base} more than "
                          "the journal held (bought outside CryptoPiggy?); its cost is taken as 0")
    proceeds = e.cost - in_quote
    book.withdrawn += proceeds
    book.sales.append(Sale(e.time, e.exchange, e.base, e.quote, e.mode, wanted - left, proceeds,
                           basis, proceeds - basis, e.fee, e.fee_currency, tuple(opened),
                           left, e.ref))


def _txt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _ordered(entries: Iterable[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: e.time)  # stable: same-time entries keep their order


def _books(entries: Iterable[Entry]) -> dict[PositionKey, _Book]:
    books: dict[PositionKey, _Book] = {}
    for e in _ordered(entries):
        if e.side not in ("buy", "sell"):
            raise ValueError(f"entry {e.ref or e.time.isoformat()}: side must be buy or sell, "
                             f"got {e.side!r}")
        if e.quantity < 0 or e.cost < 0 or e.fee < 0:
            raise ValueError(f"entry {e.ref or e.time.isoformat()}: negative quantity, cost or fee")
        if e.side == "buy" and _fee_part(e)[0] > e.quantity:
            raise ValueError(f"entry {e.ref or e.time.isoformat()}: a fee of {_txt(e.fee)} "
                             f"{e.fee_currency} is more than the {_txt(e.quantity)} bought")
        book = books.setdefault(e.key, _Book())
        (_buy if e.side == "buy" else _sell)(book, e)
    return books


def _position(key: PositionKey, book: _Book, price: Decimal | None) -> Position:
    user, exchange, asset, quote, mode = key
    quantity, basis = book.quantity, book.cost_basis
    value = quantity * price if price is not None else None
    return Position(
        user=user, exchange=exchange, asset=asset, quote=quote, mode=mode, quantity=quantity,
        cost_basis=basis, average_price=basis / quantity if quantity else None,
        invested=book.invested, withdrawn=book.withdrawn,
        realized_pnl=sum((s.gain for s in book.sales), ZERO), fees=dict(book.fees),
        other_fees=dict(book.other_fees), last_price=price, value=value,
        unrealized_pnl=value - basis if value is not None else None, flags=tuple(book.flags))


def compute(entries: Iterable[Entry],
            last_prices: Mapping[tuple[str, str, str], Decimal] | None = None) -> Books:
    """Positions, lots and sales. ``last_prices`` maps (exchange, asset, quote) to the last
    price; a position without one has no value and no unrealized PnL (None, not 0)."""
    prices = last_prices or {}
    books = _books(entries)
    positions, lots, sales = [], [], []
    for key in sorted(books):
        book = books[key]
        _, exchange, asset, quote, _ = key
        positions.append(_position(key, book, prices.get((exchange, asset, quote))))
        lots.extend(book.lots)
        sales.extend(book.sales)
    return Books(tuple(positions), tuple(lots), tuple(sales))


@dataclass(frozen=True)
class HistoryPoint:
    """Holdings value against money put in, for one mode and quote currency, at one time.

    ``value`` prices every asset held at the latest price known at that time (the price of its
    last fill, or the given last price for the final point); ``invested`` is the money put in
    less the money taken out by sells."""

    time: datetime
    mode: str
    quote: str
    value: Decimal
    invested: Decimal


def history(entries: Iterable[Entry], now: datetime | None = None,
            last_prices: Mapping[tuple[str, str, str], Decimal] | None = None,
            ) -> list[HistoryPoint]:
    """One point per entry (per mode and quote currency), plus one at ``now`` when given."""
    books: dict[PositionKey, _Book] = {}
    price: dict[tuple[str, str, str], Decimal] = {}
    points: list[HistoryPoint] = []

    def point(t: datetime, mode: str, quote: str) -> HistoryPoint:
        value = invested = ZERO
        for (_, exchange, asset, q, m), book in books.items():
            if (m, q) == (mode, quote):
                value += book.quantity * price.get((exchange, asset, q), ZERO)
                invested += book.invested - book.withdrawn
        return HistoryPoint(t, mode, quote, value, invested)

    for e in _ordered(entries):
        book = books.setdefault(e.key, _Book())
        (_buy if e.side == "buy" else _sell)(book, e)
        if e.quantity:
            price[(e.exchange, e.base, e.quote)] = e.cost / e.quantity
        points.append(point(e.time, e.mode, e.quote))
    if now is not None:
        price.update(last_prices or {})
        for mode, quote in sorted({(k[4], k[3]) for k in books}):
            points.append(point(now, mode, quote))
    return points
