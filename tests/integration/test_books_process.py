"""The books service as a process (``python -m services.books``), on a real Redis and a real
database: a database it can't use stops it with one line; the rest trades on and the journal
catches up from the stream; a SIGKILL in the middle of a burst leaves one row per intent."""
from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from shared import state, streams
from shared.books import db
from shared.books.models import Order
from shared.bus import Bus
from shared.events import OrderIntent
from tests.support.inprocess import client_bus, executor
from tests.support.postgres import PostgresServer
from tests.support.redis_server import free_port, pid_alive

pytestmark = pytest.mark.integration


def _env(redis_url: str, database_url: str, home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PIGGY_REDIS_URL": redis_url, "PIGGY_DATABASE_URL": database_url,
            "PIGGY_HOME": str(home), "PIGGY_HEALTH_PORT": str(free_port()),
            "PIGGY_LOG_FORMAT": "text", "PYTHONUNBUFFERED": "1", **extra}


@contextmanager
def books_process(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """The service, its output in ``$PIGGY_HOME/books-<instance>.out`` (a pipe nobody reads
    would fill and stop it)."""
    out = Path(env["PIGGY_HOME"]) / f"books-{env.get('PIGGY_INSTANCE_ID', 'one')}.out"
    with out.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "services.books"], env=env, text=True,
                                stdout=sink, stderr=subprocess.STDOUT)
    proc.output = out  # type: ignore[attr-defined]
    try:
        yield proc
    finally:
        if pid_alive(proc.pid):
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


async def _publish_all(bus: Bus, intents: list[OrderIntent]) -> None:
    for intent in intents:
        await bus.publish(intent, streams.INTENTS)


def _rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Order)).scalar_one()


async def _until(engine: Engine, n: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while (got := await asyncio.to_thread(_rows, engine)) < n:
        assert time.monotonic() < deadline, f"{got} rows, wanted {n}"
        await asyncio.sleep(0.1)
    return got


def _unusable(kind: str, why: str, tmp_path: Path, pg: PostgresServer | None) -> tuple[str, str]:
    """(a database URL the books can't use, what the one line must say about it)."""
    if kind == "sqlite" and why == "unreachable":
        (tmp_path / "not-a-folder").write_text("a file where the folder should be")
        return f"sqlite:///{tmp_path / 'not-a-folder' / 'books.sqlite3'}", "unable to open"
    if kind == "sqlite":
        path = tmp_path / "future.sqlite3"
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            conn.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
        return f"sqlite:///{path}", "9999_from_the_future"
    assert pg is not None
    if why == "unreachable":
        return f"postgresql://piggy:{pg.password}@127.0.0.1:{free_port()}/books", "refused"
    url = pg.new_database()
    engine = db.make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    engine.dispose()
    return url, "9999_from_the_future"


@pytest.mark.parametrize(("kind", "why"), [("sqlite", "unreachable"), ("sqlite", "unmigratable"),
                                           ("postgresql", "unreachable"),
                                           ("postgresql", "unmigratable")])
def test_a_database_it_cannot_use_stops_the_books_with_one_line(
        kind: str, why: str, redis_url: str, tmp_path: Path,
        request: pytest.FixtureRequest) -> None:
    pg = request.getfixturevalue("postgres_server") if kind == "postgresql" else None
    url, cause = _unusable(kind, why, tmp_path, pg)
    with books_process(_env(redis_url, url, tmp_path)) as proc:
        code = proc.wait(timeout=60)
        out = proc.output.read_text()
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert code == 3, out
    assert len(lines) == 1, out
    assert lines[0].startswith("books: not started: books database ") and cause in lines[0], out
    if pg is not None:
        assert pg.password not in out and "piggy:***@127.0.0.1" in lines[0]


async def test_trading_goes_on_without_the_books_and_the_journal_catches_up(
        redis_url: str, database_url: str, tmp_path: Path) -> None:
    async with executor(redis_url), client_bus(redis_url) as bus:
        await state.set_last_price(bus.redis, "binanceus", "BTC/USDT", Decimal(50000))
        for i in range(40):
            await bus.publish(OrderIntent(user_id="fay", symbol="BTC/USDT",
                                          amount_usd=Decimal(2) + i), streams.INTENTS)
        deadline = time.monotonic() + 30
        while await bus.redis.xlen(streams.TRADES) < 40:  # traded with no books running
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        engine = db.open_database(database_url)  # the database is (back) up
        with books_process(_env(redis_url, database_url, tmp_path)) as proc:
            assert await _until(engine, 40) == 40
            assert proc.poll() is None
    engine.dispose()


async def test_sigkill_in_the_middle_of_a_burst_leaves_one_row_per_intent(
        redis_url: str, database_url: str, tmp_path: Path) -> None:
    n = 1000
    engine = db.open_database(database_url)
    env = _env(redis_url, database_url, tmp_path, PIGGY_CLAIM_IDLE_MS="1000",
               PIGGY_BOOKS_BATCH_SIZE="50")
    async with executor(redis_url), client_bus(redis_url) as bus:
        await state.set_last_price(bus.redis, "binanceus", "BTC/USDT", Decimal(50000))
        intents = [OrderIntent(user_id=f"u{i % 7}", symbol="BTC/USDT", amount_usd=Decimal(2))
                   for i in range(n)]
        with books_process(env | {"PIGGY_INSTANCE_ID": "books-first"}) as first:
            publishing = asyncio.create_task(_publish_all(bus, intents))
            await _until(engine, 50)
            os.kill(first.pid, signal.SIGKILL)  # mid-burst: batches read, some not yet acked
            first.wait(timeout=10)
            at_kill = await asyncio.to_thread(_rows, engine)
        await publishing
        with books_process(env | {"PIGGY_INSTANCE_ID": "books-second",
                                  "PIGGY_HEALTH_PORT": str(free_port())}):
            await _until(engine, n, timeout=60)
            await asyncio.sleep(1.5)  # past the claim idle time: any redelivery has landed
            with engine.connect() as conn:
                total = conn.execute(select(func.count()).select_from(Order)).scalar_one()
                distinct = conn.execute(select(func.count(func.distinct(Order.intent_id)))).scalar_one()
                ids = set(conn.execute(select(Order.intent_id)).scalars())
    assert at_kill < n, "the kill did not land in the middle of the burst"
    assert total == distinct == n
    assert ids == {i.intent_id for i in intents}
    engine.dispose()
