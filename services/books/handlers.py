"""Books handlers: a batch of trade lines → one SQL transaction → one Redis round trip that
acks the batch, dead-letters what could not be parsed and shortens the journaled intents'
ledger keys. Thin: the mapping is ``shared/books/journal.py``, the writes ``store.py``.

A line is acked only after its rows are committed, so a crash between the two redelivers it
and the insert-if-absent writes make that harmless. While the database is down nothing is
acked (the entries stay pending, never dead-lettered for it) and the stream is not trimmed:
the journal catches up when the database is back.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from services.books import reconciling, trim
from services.books.context import BooksContext
from shared import streams
from shared.books import journal, store
from shared.books.db import describe, mask
from shared.bus import Batch, RetryLater, failures_key, frame
from shared.events import DeadLetter, TradeLogged

log = logging.getLogger("piggy.books")
GROUP = "books"
LEDGER_PREFIX = "piggy:ledger:"
WATERMARK_JOURNALED = "trades:journaled_below"
WATERMARK_TRIMMED = "trades:trimmed_below"
DB_RETRY_PAUSE_S = 1.0


def register(ctx: BooksContext) -> None:
    async def on_trades(batch: Batch) -> None:
        """Trade lines, a batch at a time, into the journal."""
        await journal_batch(ctx, batch)

    ctx.bus.consume_batch(streams.TRADES, GROUP, TradeLogged,
                          max_records=ctx.settings.books_batch_size)(on_trades)


async def journal_batch(ctx: BooksContext, batch: Batch) -> None:
    lines: list[tuple[str, TradeLogged]] = list(batch.events)
    rows = journal.rows_for(lines)
    try:
        await asyncio.to_thread(store.journal, ctx.books.engine, rows)
    except Exception as exc:  # the database is down or refused: keep everything pending
        await _db_failed(ctx, batch, exc)
        raise RetryLater(f"books database: {describe(exc)}") from None  # never acked for it
    if ctx.db_down_since is not None:
        log.info("books database %s is back after %.0fs: journaling", mask(ctx.books.engine.url),
                 time.monotonic() - ctx.db_down_since)
        ctx.db_down_since = None
    async with ctx.bus.redis.pipeline(transaction=True) as pipe:
        for entry_id, body, reason in batch.bad:
            log.warning("dead-lettered %s entry %s (%s): %s", batch.stream, entry_id, batch.group,
                        reason)
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            pipe.xadd(streams.DEAD_LETTER, {"__data__": frame(DeadLetter(
                stream=batch.stream, group=batch.group, entry_id=entry_id, reason=reason,
                body=text[:2000]))}, maxlen=streams.maxlen(streams.DEAD_LETTER))
        for intent_id in rows.intent_ids:  # working state only, once the journal has it
            pipe.expire(LEDGER_PREFIX + intent_id, ctx.settings.books_ledger_ttl_s, lt=True)
        if batch.ack_ids:
            pipe.xack(batch.stream, batch.group, *batch.ack_ids)
        if batch.deliveries > 1:
            pipe.hdel(failures_key(batch.stream, batch.group), *batch.ack_ids)
        await pipe.execute()
    ctx.journaled += len(rows.orders)


async def _db_failed(ctx: BooksContext, batch: Batch, exc: Exception) -> None:
    if ctx.db_down_since is None:
        ctx.db_down_since = time.monotonic()
        log.error("books database %s: %s; trade lines stay in the stream until it is back",
                  mask(ctx.books.engine.url), describe(exc))
    for entry_id in batch.ack_ids:  # "retry later": claimed again, never dead-lettered for it
        await ctx.bus.note_failure(batch, entry_id, RetryLater(describe(exc)))
    await asyncio.sleep(DB_RETRY_PAUSE_S)


async def trim_once(ctx: BooksContext, now_ms: int | None = None) -> str | None:
    """Trim the trade stream below what every group has acknowledged (the journal first);
    returns the MINID used, or None."""
    groups = await group_states(ctx)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    minid = trim.boundary(groups, GROUP, now_ms, int(ctx.settings.books_trim_keep_s * 1000))
    journaled = trim.journaled_below(groups, GROUP)
    removed = 0
    if minid is not None and ctx.db_down_since is None:
        removed = int(await ctx.bus.redis.xtrim(streams.TRADES, minid=minid, approximate=False))
    if journaled is not None and ctx.db_down_since is None:
        await asyncio.to_thread(_record_watermarks, ctx, journaled, minid)
    if removed:
        log.info("trimmed %d journaled trade lines below %s", removed, minid)
    return minid


def _record_watermarks(ctx: BooksContext, journaled: str, minid: str | None) -> None:
    with ctx.books.engine.begin() as conn:
        store.set_watermark(conn, WATERMARK_JOURNALED, journaled)
        if minid is not None:
            store.set_watermark(conn, WATERMARK_TRIMMED, minid)


async def group_states(ctx: BooksContext) -> list[trim.GroupState]:
    redis = ctx.bus.redis
    try:
        infos = await redis.xinfo_groups(streams.TRADES)
    except Exception as exc:  # no stream yet
        if "no such key" in str(exc).lower():
            return []
        raise
    states = []
    for info in infos:
        name = str(info["name"])
        pending = int(info.get("pending") or 0)
        oldest = None
        if pending:
            summary = await redis.xpending(streams.TRADES, name)
            oldest = summary.get("min") if isinstance(summary, dict) else None
        states.append(trim.GroupState(name, str(info.get("last-delivered-id") or "0-0"), pending,
                                      str(oldest) if oldest else None))
    return states


async def trim_loop(ctx: BooksContext) -> None:
    while True:
        await asyncio.sleep(ctx.settings.books_trim_interval_s)
        try:
            await trim_once(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed round is logged; the next one retries
            log.warning("trimming the trade stream failed: %s", describe(exc))


async def start(ctx: BooksContext) -> None:
    ctx.trimmer = asyncio.create_task(trim_loop(ctx), name="books-trim")
    log.info("books: journaling %s into %s", streams.TRADES, mask(ctx.books.engine.url))
    await reconciling.start(ctx)


async def stop(ctx: BooksContext) -> None:
    await reconciling.stop(ctx)
    if ctx.trimmer is not None:
        ctx.trimmer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ctx.trimmer
    await asyncio.to_thread(ctx.books.engine.dispose)
