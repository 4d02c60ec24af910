"""The books' database: an engine from a URL, migrated to the newest schema at start.

SQLite (the default, under ``PIGGY_HOME``) runs in WAL mode, so the gateway and the CLI read
while the books service writes; PostgreSQL is reached with psycopg 3 (``postgresql://`` URLs
are given that driver). Migrations are Alembic's, shipped inside the package
(``shared/books/migrations``) and run programmatically: under a file lock on SQLite and an
advisory lock on PostgreSQL, so replicas starting together migrate once.

A database that can't be reached or migrated raises :class:`BooksDatabaseError`, whose
message is one line naming the URL (password masked) and the cause.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError

log = logging.getLogger("piggy.books")
MIGRATIONS = Path(__file__).with_name("migrations")
PG_LOCK_ID = 0x706967677962  # "piggyb": the advisory lock migrations hold on PostgreSQL
SQLITE_BUSY_S = 30


class BooksDatabaseError(RuntimeError):
    """The database can't be used; the message names the URL (masked) and why."""


def parse_url(url: str) -> URL:
    """A URL with the driver the product uses (psycopg 3 for PostgreSQL)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise BooksDatabaseError(f"books database URL {mask(url)!r} is not a database URL "
                                 "(e.g. postgresql://user:pass@host:5432/piggy or "
                                 "sqlite:////path/books.sqlite3)") from exc
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise BooksDatabaseError(f"books database URL {mask(url)}: {parsed.get_backend_name()} is not "
                                 "supported (sqlite or postgresql)")
    return parsed


def mask(url: str | URL) -> str:
    """The URL with its password replaced by ``***`` (safe in a log line or an error)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<unparsable URL>" if "@" in str(url) else str(url)
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise BooksDatabaseError(f"books database {mask(parsed)}: unable to open the "
                                         f"folder ({exc.strerror}: {exc.filename})") from exc
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_S}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, connect_args={"connect_timeout": 5}, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest migration's revision."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is there); one log line when
    it changed anything."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its per-step INFO lines: noise
    try:
        with _migration_lock(engine), engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_LOCK_ID})
            before = MigrationContext.configure(conn).get_current_revision()
            command.upgrade(alembic_config(conn), "head")
            after = MigrationContext.configure(conn).get_current_revision()
    except BooksDatabaseError:
        raise
    except Exception as exc:  # any driver/migration failure: one line with its cause
        raise BooksDatabaseError(f"books database {mask(engine.url)}: {describe(exc)}") from exc
    if before != after:
        log.info("books database %s migrated from %s to %s", mask(engine.url), before or "empty",
                 after)


def open_database(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``, checked reachable and migrated to head."""
    engine = make_engine(url, **kwargs)
    migrate(engine)
    return engine


def check_reachable(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - classified into one line
        raise BooksDatabaseError(f"books database {mask(engine.url)}: {describe(exc)}") from exc


def describe(exc: BaseException) -> str:
    """The cause in one line, without the SQL statement or the driver's multi-line detail."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first}"[:300] if first else type(orig).__name__


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """SQLite: an exclusive file lock beside the database while migrating."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    with lock_path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
