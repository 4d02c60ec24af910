"""``piggy books``: the books in SQL — status, and rebuilding the journal from the streams.

One ``typer.Typer`` (``app``), registered in ``piggy/cli.py`` as ``books``; other modules add
their commands to it (``@books.app.command()``). ``open_books()`` is the one way a command
reaches the database: the configured URL (``PIGGY_DATABASE_URL``, else SQLite under
``PIGGY_HOME``), errors as one line.

``rebuild`` replays the trade stream (``piggy:trades``) into an EMPTY database with the same
mapping and writes as the live journal, so it gives the same rows; lines the journal could
not parse are skipped and counted (the live journal dead-letters them). Only what the stream
still holds can be replayed: the journal trims journaled lines older than
``PIGGY_BOOKS_TRIM_KEEP_S``. ``--from-exchange`` restores from the exchanges' own history
instead (``piggy.reconcile.rebuild_from_exchange``).
"""
from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis
import typer
from redis.client import NEVER_DECODE

from piggy import client, output
from shared import streams
from shared.books.settings import BooksSettings

if TYPE_CHECKING:  # SQLAlchemy and Alembic are imported by the commands that use them: every
    from sqlalchemy import Engine  # `piggy` command would otherwise pay for them at start

    from shared.books.queries import Books

app = typer.Typer(help="The books (every order and fill, in SQL): status, rebuild.",
                  no_args_is_help=True)
CHUNK = 1000


def database_url(url: str | None = None) -> str:
    return url or BooksSettings().url()


def open_books(url: str | None = None, *, migrate: bool = False) -> Books:
    """The books at ``url`` (default: the configured database), or one line and exit 1.

    Reading (``migrate`` False) never creates anything: a SQLite file that does not exist or
    a database without the tables is "no books yet", not an empty history."""
    from sqlalchemy import inspect

    from shared.books.db import BooksDatabaseError, describe, make_engine, mask, open_database, parse_url
    from shared.books.queries import Books

    target = database_url(url)
    try:
        if migrate:
            return Books(open_database(target))
        parsed = parse_url(target)
        if parsed.get_backend_name() == "sqlite" and parsed.database and \
                not Path(parsed.database).exists():
            output.fail(f"no books database at {mask(target)} yet (`piggy up` creates it; "
                        "is PIGGY_HOME right?)")
        engine = make_engine(target)
        if not inspect(engine).has_table("orders"):
            output.fail(f"books database {mask(target)} has no tables yet (`piggy up` migrates "
                        "it; or run `piggy books rebuild`)")
        return Books(engine)
    except typer.Exit:
        raise
    except BooksDatabaseError as exc:
        output.fail(str(exc))
    except Exception as exc:  # the driver's error, in one line
        output.fail(f"books database {mask(target)}: {describe(exc)}")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="data only, as JSON")) -> None:
    """Where the books are, how many rows they hold, and how far the stream is journaled."""
    from shared.books import queries
    from shared.books.db import mask

    books = open_books()
    with books.session() as session:
        body: dict[str, Any] = {"database": mask(books.engine.url), **queries.counts(session),
                                "watermarks": queries.watermarks(session)}
    if as_json:
        output.emit_json(body)
        return
    for key, value in body.items():
        output.say(f"{key}: {value}")


@app.command()
def rebuild(
    database: str | None = typer.Option(None, "--database-url", metavar="URL",
                                        help="the database to rebuild into (default: the "
                                             "configured one); it must have no orders"),
    from_exchange: bool = typer.Option(False, "--from-exchange",
                                       help="from the exchanges' own order and trade history "
                                            "(what survives when everything of ours is gone)"),
) -> None:
    """Replay the trade stream into an empty database (the same rows as the live journal)."""
    from shared.books import queries
    from shared.books.db import mask

    books = open_books(database, migrate=True)
    with books.session() as session:
        existing = queries.counts(session)["orders"]
    if from_exchange:
        _from_exchange(books.engine)
        return
    if existing:
        output.fail(f"books database {mask(books.engine.url)} already has {existing} orders; "
                    "rebuild only into an empty database (--database-url URL)", output.REFUSED)
    try:
        done, skipped = asyncio.run(replay(client.redis_url(), books.engine, output.say))
    except (OSError, redis.RedisError) as exc:
        output.fail(f"Redis unreachable ({type(exc).__name__}); is `piggy up` running, and is "
                    "PIGGY_REDIS_URL right?")
    output.say(f"rebuilt {done} orders from {streams.TRADES} into {mask(books.engine.url)}"
               + (f"; {skipped} unparsable lines skipped (the journal dead-letters them)"
                  if skipped else ""))


def _from_exchange(engine: Engine) -> None:
    try:
        restore = importlib.import_module("piggy.reconcile").rebuild_from_exchange
    except (ImportError, AttributeError):
        output.fail("--from-exchange is not available in this version", output.USAGE)
    restore(engine, output.say)


async def replay(redis_url: str, engine: Engine, say: Callable[[str], None] = print) -> tuple[int, int]:
    """Every trade line of the stream, oldest first, through the journal's mapping and
    writes into ``engine``; (orders written, lines skipped)."""
    from shared.books import journal, store
    from shared.bus import Bus, decode_entry
    from shared.events import TradeLogged

    bus = Bus(redis_url, "cli")
    written = skipped = seen = 0
    last = "-"
    try:
        while True:
            batch = await bus.redis.execute_command(
                "XRANGE", streams.TRADES, last, "+", "COUNT", CHUNK, **{NEVER_DECODE: True})
            if not batch:
                break
            lines: list[tuple[str, TradeLogged]] = []
            for raw_id, fields in batch:
                entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                try:
                    lines.append((entry_id, journal.parse_line(decode_entry(fields))))
                except Exception:  # noqa: BLE001 - any undecodable line is skipped and counted
                    skipped += 1
            written += await asyncio.to_thread(store.journal, engine, journal.rows_for(lines))
            seen += len(batch)
            say(f"replayed {seen} trade lines, {written} orders")
            last_id = batch[-1][0]
            last = "(" + (last_id.decode() if isinstance(last_id, bytes) else str(last_id))
    finally:
        await bus.redis.aclose()
    return written, skipped


class TradesPage:
    """One page of the trade history as trade-log JSON lines, and the next page's cursor."""

    def __init__(self, lines: list[dict[str, Any]], next_cursor: str | None) -> None:
        self.lines, self.next = lines, next_cursor


def trades_page(user: str | None, limit: int, before: str | None) -> TradesPage:
    """``piggy trades``: the history from the books, newest first; an unknown user or a bad
    cursor is one line and exit 1/2."""
    from shared.books import journal, queries
    from shared.books.db import describe, mask

    try:
        cursor = queries.Cursor.parse(before) if before else None
    except ValueError as exc:
        output.fail(str(exc), output.USAGE)
    books = open_books()
    try:
        with books.session() as session:
            page = queries.trades(session, user_id=user, limit=limit, before=cursor)
            known = bool(page.orders) or user is None or queries.user_known(session, user)
    except Exception as exc:  # the driver's error, in one line
        output.fail(f"books database {mask(books.engine.url)}: {describe(exc)}")
    if not known:
        output.fail(f"unknown user {user!r}: the books have no trades of theirs")
    return TradesPage([journal.line_of(o) for o in page.orders],
                      page.next.text() if page.next else None)
