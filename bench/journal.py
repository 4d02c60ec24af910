"""The journal under the paper backlog: trade line → row lag (p50/p99), rows/s, and the
Redis bytes an intent leaves behind with and without the journal.

Lag: a backlog of paper intents is released at once (executors paused, as in
``measure.paper_throughput``); each trade line's time is its stream entry id (Redis's clock,
this machine) and its row's time is when a poll of the books database (every 10 ms) first sees
it, so the figure includes up to one poll interval.

Bytes per intent: ``MEMORY USAGE`` of the intents' ledger keys and of the trade stream per
entry. Without the journal both stay (ledger keys 7 days, trade lines until the 1M cap); with
it a journaled intent's ledger key expires after ``PIGGY_BOOKS_LEDGER_TTL_S`` and its line is
trimmed after ``PIGGY_BOOKS_TRIM_KEEP_S``: the steady state at a given rate follows.

    python -m bench.journal [--n 2000]   # just this piece, on its own stack
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.harness import LiveStack, live_stack
from bench.measure import Tick
from bench.stats import summary
from services.executor.ledger import LEDGER_TTL_S, PREFIX
from shared import streams
from shared.books.db import make_engine
from shared.books.settings import DB_FILE, BooksSettings
from shared.bus import Bus
from shared.events import OrderIntent

POLL_S = 0.01
STEADY_RATE_PER_S = 5  # the example rate for the steady-state figures


async def journal_lag(live: LiveStack, n: int, tick: Tick) -> dict[str, Any]:
    executors = [c.proc for c in live.children("executor") if c.proc is not None]
    engine = make_engine(f"sqlite:///{live.stack.home / DB_FILE}")
    bus = Bus(live.redis_url, "bench")
    await bus.broker.connect()
    try:
        last_id = await asyncio.to_thread(_max_id, engine)
        for proc in executors:
            proc.send_signal(signal.SIGSTOP)
        try:
            intents = [OrderIntent(user_id=f"journal-{i % 50}", symbol="BTC/USDT",
                                   amount_usd=Decimal(2), source="bench",
                                   await_outcome=False).model_dump(mode="json")
                       for i in range(n)]
            for chunk in range(0, n, 50):
                await asyncio.gather(*(bus.broker.publish(body, stream=streams.INTENTS,
                                                          maxlen=streams.maxlen(streams.INTENTS))
                                       for body in intents[chunk:chunk + 50]))
        finally:
            for proc in executors:
                proc.send_signal(signal.SIGCONT)
        seen: dict[str, float] = {}
        deadline = time.monotonic() + max(60.0, n / 20)
        while len(seen) < n and time.monotonic() < deadline:
            rows, last_id = await asyncio.to_thread(_new_rows, engine, last_id)
            now = time.time()
            for stream_id in rows:
                seen.setdefault(stream_id, now)
            tick(len(rows))
            await asyncio.sleep(POLL_S)
        memory = await _memory(bus, [str(i["intent_id"]) for i in intents[:200]])
    finally:
        await bus.broker.stop()
        await bus.redis.aclose()
        engine.dispose()
    lags = [(at - int(sid.split("-")[0]) / 1000) * 1000 for sid, at in seen.items()]
    lines_ms = sorted(int(s.split("-")[0]) for s in seen)
    rows_at = sorted(seen.values())
    span = (rows_at[-1] - rows_at[0]) if len(rows_at) > 1 else 0.0
    line_span = (lines_ms[-1] - lines_ms[0]) / 1000 if len(lines_ms) > 1 else 0.0
    return {"n": n, "journaled": len(seen), **{f"lag_{k}": v for k, v in summary(lags).items()},
            "rows_per_s": round(len(seen) / span, 1) if span else None,
            "trade_lines_per_s": round(len(seen) / line_span, 1) if line_span else None,
            "redis": memory}


def _max_id(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM orders")).scalar_one())


def _new_rows(engine: Any, after: int) -> tuple[list[str], int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, stream_id FROM orders WHERE id > :a ORDER BY id"),
                            {"a": after}).all()
    return [r.stream_id for r in rows], (rows[-1].id if rows else after)


async def _memory(bus: Bus, intent_ids: list[str]) -> dict[str, Any]:
    """Bytes per intent now, and in the steady state at STEADY_RATE_PER_S without and with
    the journal (its retention settings)."""
    settings = BooksSettings()
    redis = bus.redis
    ledger = [await redis.memory_usage(PREFIX + i) or 0 for i in intent_ids]
    ttls = [await redis.ttl(PREFIX + i) for i in intent_ids]
    length = await redis.xlen(streams.TRADES)
    trade_bytes = (await redis.memory_usage(streams.TRADES, samples=0) or 0) / max(1, length)
    key = sum(ledger) / max(1, len(ledger))
    rate = STEADY_RATE_PER_S
    without = rate * LEDGER_TTL_S * key + min(streams.maxlen(streams.TRADES),
                                              rate * LEDGER_TTL_S) * trade_bytes
    with_journal = (rate * settings.books_ledger_ttl_s * key
                    + rate * settings.books_trim_keep_s * trade_bytes)
    return {"ledger_key_bytes": round(key), "trade_line_bytes": round(trade_bytes),
            "per_intent_bytes": round(key + trade_bytes),
            "journaled_keys_ttl_max_s": max(ttls) if ttls else None,
            "ledger_ttl_without_journal_s": LEDGER_TTL_S,
            "ledger_ttl_journaled_s": settings.books_ledger_ttl_s,
            "trade_lines_kept_s": settings.books_trim_keep_s,
            f"steady_at_{rate}_per_s_without_journal_mb": round(without / 1e6, 1),
            f"steady_at_{rate}_per_s_with_journal_mb": round(with_journal / 1e6, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.journal")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="piggy-bench-journal-") as home, \
            live_stack(Path(home)) as (live, _took):
        result = asyncio.run(journal_lag(live, args.n, lambda _k: None))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
