"""Fixtures for the books: a real database of each kind, and the books service in-process.

``database_url`` is parametrized: every test that takes it runs on SQLite (a file in the
test's folder, WAL) and on a real PostgreSQL (``tests/support/postgres.py``: one server per
session, started on first use, an empty database per test).
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from services.books.app import bootstrap as books_bootstrap
from services.books.app import create_app as books_app
from services.books.context import BooksContext
from shared.books.db import open_database
from shared.books.models import Fill, Order
from shared.books.settings import BooksSettings
from tests.support.postgres import PostgresServer, available

KINDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    ok, why = available()
    if not ok:
        pytest.fail(f"a real PostgreSQL is required for the books' tests: {why}")
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty books database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'books.sqlite3'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


def books_settings(**overrides: Any) -> BooksSettings:
    values: dict[str, Any] = {"books_batch_size": 256, "books_trim_interval_s": 3600.0} | overrides
    return BooksSettings.model_construct(**(BooksSettings().model_dump() | values))


@asynccontextmanager
async def books_service(redis_url: str, database_url: str, *, instance_id: str = "books-test",
                        **settings: Any) -> AsyncIterator[BooksContext]:
    """The books service's real app (bus, consumer group, trimmer) in this event loop."""
    engine = open_database(database_url)
    ctx = books_bootstrap(redis_url=redis_url, engine=engine, instance_id=instance_id,
                          settings=books_settings(**settings))
    app = books_app(lambda: ctx)
    async with app.router.lifespan_context(app):
        yield ctx


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every order and fill by its natural key, without row ids (which depend on who wrote
    first): what "the same rows" means."""
    skip = {"id", "order_ref"}
    with engine.connect() as conn:
        orders = conn.execute(select(Order.__table__)).mappings().all()
        fills = conn.execute(select(Fill.__table__)).mappings().all()
        by_id = {o["id"]: o["intent_id"] for o in orders}
    return {
        "orders": sorted(tuple((k, v) for k, v in o.items() if k not in skip) for o in orders),
        "fills": sorted((*((k, v) for k, v in f.items() if k not in skip),
                         ("order", by_id.get(f["order_ref"]))) for f in fills),
    }
