"""The journal against a real Redis and a real database (SQLite and PostgreSQL): paper
trades from the real executor become one row each, however often they are delivered."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, func, select, text

from piggy.books import replay
from services.books import handlers
from shared import state, streams
from shared.books import db, journal, store
from shared.books.models import Fill, Order, Watermark
from shared.bus import decode_entry
from shared.events import OrderIntent, TradeLogged
from tests.support.books_db import books_service, snapshot
from tests.support.inprocess import client_bus, executor

pytestmark = pytest.mark.integration


def _count(engine: Engine, model: Any = Order) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


async def _until_rows(engine: Engine, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(_count, engine) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{await asyncio.to_thread(_count, engine)} rows, wanted {n}")
        await asyncio.sleep(0.05)


async def _paper_trades(bus: Any, n: int, users: tuple[str, ...] = ("ann", "bea")) -> list[OrderIntent]:
    await state.set_last_price(bus.redis, "binanceus", "BTC/USDT", Decimal("40000.5"))
    intents = [OrderIntent(user_id=users[i % len(users)], symbol="BTC/USDT",
                           amount_usd=Decimal(2) + Decimal(i) / 100) for i in range(n)]
    for intent in intents:
        await bus.publish(intent, streams.INTENTS)
    return intents


async def _trade_lines(redis: Any) -> list[tuple[str, dict[str, Any]]]:
    raw = await redis.execute_command("XRANGE", streams.TRADES, "-", "+", NEVER_DECODE=True)
    return [(i.decode(), decode_entry(f)) for i, f in raw]


async def test_money_round_trips_exactly_to_the_last_satoshi(database_url: str) -> None:
    engine = db.open_database(database_url)
    line = TradeLogged(intent_id="tiny", user_id="u", symbol="BTC/USDT", side="buy",
                       amount_usd=Decimal("2.00000001"), mode="PAPER", status="filled",
                       price=Decimal("98765.43210987"), filled=Decimal("0.00000001"),
                       cost=Decimal("123456789012.12345678"), fee=Decimal("0.00000001"),
                       fee_currency="BTC", order_id="paper-tiny")
    store.journal(engine, journal.rows_for([("1-1", line)]))
    with engine.connect() as conn:
        order = conn.execute(select(Order.__table__)).mappings().one()
        fill = conn.execute(select(Fill.__table__)).mappings().one()
    assert order["filled"] == Decimal("0.00000001") and str(order["fee"]) in ("1E-8", "0.00000001")
    assert order["cost"] == Decimal("123456789012.12345678")
    assert order["amount_usd"] == Decimal("2.00000001") and order["price"] == Decimal("98765.43210987")
    assert fill["amount"] == Decimal("0.00000001") and fill["trade_id"] == "paper-tiny"
    assert journal.as_trade_line(type("Row", (), {**order, "origin": "product"})()) == line
    engine.dispose()


async def test_replay_redelivery_and_two_replicas_leave_one_row_per_intent(
        redis_url: str, database_url: str) -> None:
    engine = db.open_database(database_url)
    async with executor(redis_url), client_bus(redis_url) as bus, \
            books_service(redis_url, database_url, instance_id="books-a"), \
            books_service(redis_url, database_url, instance_id="books-b"):
        intents = await _paper_trades(bus, 120)
        await _until_rows(engine, 120)
        first = await asyncio.to_thread(snapshot, engine)
        # the whole stream again (a replay) and one line twice more (a redelivery)
        lines = await _trade_lines(bus.redis)
        for _, body in [*lines, lines[0], lines[0]]:
            await bus.publish(TradeLogged.model_validate(body), streams.TRADES)
        await _until_drained(bus.redis)
    assert _count(engine) == 120 and _count(engine, Fill) == 120
    assert await asyncio.to_thread(snapshot, engine) == first
    got = {dict(o)["intent_id"] for o in first["orders"]}
    assert got == {i.intent_id for i in intents}
    engine.dispose()


async def _until_drained(redis: Any, timeout: float = 20.0) -> None:
    """Every trade line delivered to the books group and acknowledged."""
    deadline = time.monotonic() + timeout
    while True:
        groups = {g["name"]: g for g in await redis.xinfo_groups(streams.TRADES)}
        books = groups.get(handlers.GROUP)
        if books and books["pending"] == 0 and books.get("lag") == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"books group not drained: {books}")
        await asyncio.sleep(0.05)


async def test_rebuild_from_the_stream_gives_the_rows_of_the_live_journal(
        redis_url: str, database_url: str, tmp_path: Any) -> None:
    live = db.open_database(database_url)
    async with executor(redis_url), client_bus(redis_url) as bus, \
            books_service(redis_url, database_url):
        await _paper_trades(bus, 60, users=("cy", "di", "ed"))
        await _until_rows(live, 60)
        await _until_drained(bus.redis)
    rebuilt = db.open_database(f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}")
    written, skipped = await replay(redis_url, rebuilt, say=lambda _m: None)
    assert (written, skipped) == (60, 0)
    assert await asyncio.to_thread(snapshot, rebuilt) == await asyncio.to_thread(snapshot, live)
    live.dispose()
    rebuilt.dispose()


async def test_an_unparsable_trade_line_is_dead_lettered_with_its_reason(
        redis_url: str, database_url: str) -> None:
    engine = db.open_database(database_url)
    async with executor(redis_url), client_bus(redis_url) as bus, \
            books_service(redis_url, database_url):
        await bus.broker.publish({"type": "TradeLogged", "user_id": "eve", "amount_usd": "NaN"},
                                 stream=streams.TRADES)
        await bus.redis.xadd(streams.TRADES, {"junk": "\x00\xff"})
        await _paper_trades(bus, 3, users=("eve",))
        await _until_rows(engine, 3)
        await _until_drained(bus.redis)
        letters = [decode_entry(f) for _, f in await bus.redis.execute_command(
            "XRANGE", streams.DEAD_LETTER, "-", "+", NEVER_DECODE=True)]
    ours = [d for d in letters if d["group"] == handlers.GROUP]
    assert len(ours) == 2, letters
    assert any("schema" in d["reason"] and "intent_id" in d["reason"] for d in ours)
    assert any("undecodable" in d["reason"] or "not a faststream entry" in d["reason"] for d in ours)
    assert _count(engine) == 3
    engine.dispose()


async def test_the_stream_is_trimmed_only_below_what_every_group_acknowledged(
        redis_url: str, database_url: str) -> None:
    engine = db.open_database(database_url)
    async with executor(redis_url), client_bus(redis_url) as bus:
        await _paper_trades(bus, 30)
        deadline = time.monotonic() + 20
        while await bus.redis.xlen(streams.TRADES) < 30 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        ids = [i for i, _ in await _trade_lines(bus.redis)]
        redis = bus.redis
        # the journal read 20 lines and acknowledged (journaled) the first 12; the notifier
        # acknowledged 25
        for group, read, acked in ((handlers.GROUP, 20, 12), ("notifier", 25, 25)):
            await redis.xgroup_create(streams.TRADES, group, id="0")
            await redis.execute_command("XREADGROUP", "GROUP", group, "c", "COUNT", read,
                                        "STREAMS", streams.TRADES, ">", NEVER_DECODE=True)
            await redis.xack(streams.TRADES, group, *ids[:acked])
        ctx = handlers_ctx(redis_url, engine)
        minid = await handlers.trim_once(ctx, now_ms=int(time.time() * 1000) + 60_000)
        remaining = [i for i, _ in await _trade_lines(redis)]
        await ctx.bus.redis.aclose()
    assert minid == ids[12]
    assert remaining == ids[12:]  # the unjournaled 13th line onwards: all kept
    with engine.connect() as conn:
        marks = dict(conn.execute(select(Watermark.name, Watermark.value)).all())
    assert marks == {handlers.WATERMARK_TRIMMED: ids[12], handlers.WATERMARK_JOURNALED: ids[12]}
    engine.dispose()


def handlers_ctx(redis_url: str, engine: Engine) -> Any:
    from services.books.app import bootstrap
    from tests.support.books_db import books_settings

    return bootstrap(redis_url=redis_url, engine=engine, settings=books_settings(books_trim_keep_s=0.0))


async def test_recent_lines_stay_for_readers_and_journaled_intents_keys_expire(
        redis_url: str, database_url: str) -> None:
    engine = db.open_database(database_url)
    async with executor(redis_url), client_bus(redis_url) as bus:
        intents = await _paper_trades(bus, 10)
        deadline = time.monotonic() + 20
        while await bus.redis.xlen(streams.TRADES) < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        key = f"piggy:ledger:{intents[0].intent_id}"
        ttl_before = await bus.redis.ttl(key)
        async with books_service(redis_url, database_url) as ctx:
            await _until_rows(engine, 10)
            await _until_drained(bus.redis)
            await handlers.trim_once(ctx)  # keeps the last hour (PIGGY_BOOKS_TRIM_KEEP_S)
            ttl_after = await bus.redis.ttl(key)
            kept = await bus.redis.xlen(streams.TRADES)
    assert ttl_before > 6 * 24 * 3600 and 0 < ttl_after <= 3600
    assert kept == 10
    engine.dispose()


async def test_two_migrations_at_once_and_again_leave_one_schema(database_url: str) -> None:
    engines = [db.make_engine(database_url) for _ in range(3)]
    await asyncio.gather(*(asyncio.to_thread(db.migrate, e) for e in engines))
    db.migrate(engines[0])
    assert all(db.current(e) == db.head() for e in engines)
    with engines[0].connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    for e in engines:
        e.dispose()


async def test_the_database_going_away_keeps_lines_pending_until_it_is_back(
        redis_url: str, postgres_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIGGY_CLAIM_IDLE_MS", "500")  # pending lines are claimed again soon
    url = postgres_server.new_database()
    name = url.rsplit("/", 1)[1]
    engine = db.open_database(url)
    admin = psycopg.connect(postgres_server.url("postgres", driver=False), autocommit=True)
    try:
        async with executor(redis_url), client_bus(redis_url) as bus, \
                books_service(redis_url, url) as ctx:
            await _paper_trades(bus, 5)
            await _until_rows(engine, 5)
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = %s", (name,))
            engine.dispose()
            await _paper_trades(bus, 10)
            deadline = time.monotonic() + 20
            while ctx.db_down_since is None:
                assert time.monotonic() < deadline, "the outage was not noticed"
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # a few claim rounds while it is down
            letters = await bus.redis.xlen(streams.DEAD_LETTER)
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await _until_rows(engine, 15, timeout=30)
            await _until_drained(bus.redis)
    finally:
        admin.close()
    assert letters == 0  # nothing dead-lettered for the outage
    assert _count(engine) == 15 and ctx.db_down_since is None
    engine.dispose()
