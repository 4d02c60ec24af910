"""``piggy positions``, ``piggy pnl`` and ``piggy books export --csv``: positions and PnL read
from the books (the journal in SQL), FIFO lots (``shared/books/positions.py``).

Values use the last price the gateway keeps in Redis for each market; when Redis or the
price is not there, value and unrealized PnL are left empty (never a made-up 0). ``--json``
prints only JSON on stdout.
"""
from __future__ import annotations

import asyncio
import csv
import sys
import time
from decimal import Decimal

import typer

from piggy import books, checks, client, output
from shared import redis_conn, state
from shared.books import holdings, queries
from shared.books.db import describe, make_engine, mask
from shared.books.positions import METHOD, Entry, Position, compute
from shared.books.positions import Books as PositionBooks
from shared.books.queries import Books
from shared.settings import ReconcileSettings

JsonOpt = typer.Option(False, "--json", help="data only, as JSON, on stdout")
UserOpt = typer.Option(..., "--user", callback=checks.user)


def _prices(found: list[Entry], redis_url: str | None = None) -> dict[holdings.PriceKey, Decimal]:
    async def read() -> dict[holdings.PriceKey, Decimal]:
        redis = redis_conn.async_client(redis_url or client.redis_url(), socket_connect_timeout=2)
        try:
            out = {}
            for exchange, asset, quote in holdings.price_keys(found):
                price = await state.last_price(redis, exchange, f"{asset}/{quote}")
                if price is not None:
                    out[(exchange, asset, quote)] = price
            return out
        finally:
            await redis.aclose()
    try:
        return asyncio.run(read())
    except Exception as exc:  # noqa: BLE001 - no prices: positions without value, said once
        output.err().print(f"no last prices ({type(exc).__name__}): value and unrealized PnL "
                           "left empty", highlight=False)
        return {}


def user_books(user: str, *, priced: bool = True) -> PositionBooks:
    """The user's positions, lots and sales; one line and exit 1 for an unknown user."""
    db = books.open_books()
    try:
        found, known = holdings.read(db, user, include_external=ReconcileSettings()
                                     .reconcile_count_external)
    except Exception as exc:  # the driver's error, in one line
        output.fail(f"books database {mask(db.engine.url)}: {describe(exc)}")
    if not known:
        output.fail(f"unknown user {user!r}: the books have no trades of theirs")
    try:
        return compute(found, _prices(found) if priced else None)
    except ValueError as exc:
        output.fail(f"positions of {user!r} cannot be computed: {exc}")


def journaled_position(redis_url: str, user: str, exchange: str, symbol: str, mode: str,
                       intent_id: str, timeout_s: float = 20.0) -> Position | None:
    """The user's position in ``symbol`` once the books have journaled ``intent_id`` (what
    ``make demo`` prints after its test buy); None when the journal has not caught up."""
    db = Books(make_engine(books.database_url()))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                with db.session() as session:
                    done = queries.order_by_intent(session, intent_id) is not None
                if done:
                    break
            except Exception:  # noqa: BLE001 - not created or migrated yet: wait for it
                pass
            if time.monotonic() > deadline:
                return None
            time.sleep(0.2)
        found, _ = holdings.read(db, user)
    finally:
        db.engine.dispose()
    base, quote = holdings.split_symbol(symbol)
    mine = [e for e in found if (e.exchange, e.base, e.quote, e.mode) == (exchange, base, quote, mode)]
    for p in compute(mine, _prices(mine, redis_url)).positions:
        return p
    return None


def describe_position(p: Position) -> str:
    """One line: quantity, cost with fee, value now."""
    value = (f"value now {_n(p.value)} {p.quote} at {_n(p.last_price)}"
             if p.value is not None else "value now unknown (no last price)")
    fees = ", ".join(f"{_n(v)} {k}" for k, v in p.fees.items()) or "none"
    return (f"{p.mode} {p.exchange} {p.asset}: {_n(p.quantity)} {p.asset} held, cost with fees "
            f"{_n(p.cost_basis)} {p.quote} (fees {fees}), {value} ({p.method})")


def _n(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


def positions(user: str = UserOpt, as_json: bool = JsonOpt) -> None:
    """Quantity held, cost with fees, average price and value now, per exchange, asset, mode."""
    result = user_books(user)
    if as_json:
        output.emit_json({"userId": user, "method": METHOD,
                          "positions": [holdings.position_json(p) for p in result.positions]})
        return
    output.table(["exchange", "mode", "asset", "quantity", "cost with fees", "avg price",
                  "last price", "value now", "flags"],
                 [(p.exchange, p.mode, p.asset, _n(p.quantity), f"{_n(p.cost_basis)} {p.quote}",
                   _n(p.average_price), _n(p.last_price), _n(p.value), "; ".join(p.flags))
                  for p in result.positions])


def pnl(user: str = UserOpt, as_json: bool = JsonOpt) -> None:
    """Realized (FIFO) and unrealized PnL per exchange, asset and mode."""
    result = user_books(user)
    if as_json:
        output.emit_json({"userId": user, "method": METHOD, "pnl": [
            {k: v for k, v in holdings.position_json(p).items()
             if k in ("exchange", "asset", "quote", "mode", "invested", "withdrawn",
                      "realized_pnl", "unrealized_pnl", "method", "flags")}
            for p in result.positions]})
        return
    output.table(["exchange", "mode", "asset", "money in", "money out", "realized", "unrealized",
                  "method"],
                 [(p.exchange, p.mode, p.asset, _n(p.invested), _n(p.withdrawn),
                   _n(p.realized_pnl), _n(p.unrealized_pnl), p.method)
                  for p in result.positions])


@books.app.command("export")
def export(user: str = UserOpt,
           as_csv: bool = typer.Option(True, "--csv", help="CSV on stdout (the only format)"),
           ) -> None:
    """Every lot with its cost basis and every sale with its gain (FIFO), as CSV on stdout."""
    result = user_books(user, priced=False)
    writer = csv.DictWriter(sys.stdout, fieldnames=holdings.CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    rows = [holdings.lot_row(lot) for lot in result.lots] + [
        holdings.sale_row(sale) for sale in result.sales]
    for row in sorted(rows, key=lambda r: (r["time"], r["kind"])):
        writer.writerow(row)
