"""The reconciler: at start-up and every ``PIGGY_RECONCILE_INTERVAL_S``, for every user and
exchange with validated keys, the exchange's own orders, trades and balances are compared
with the journal and every difference is written back as an audited correction.

One round of one account (``account_round``):
1. read the journal's LIVE rows, fill trade ids and watermarks of the account;
2. pick the window: from the last round's watermark (minus ``PIGGY_RECONCILE_OVERLAP_S``), or
   further back when an ``unknown`` row is older (it must be judged), or
   ``PIGGY_RECONCILE_LOOKBACK_S`` on a first round;
3. read the balances first (an order placed during the round is then newer than the balance
   and left out of the drift), then every symbol's orders and trades since the window's
   start through the adapters (``orders_since``/``fills_since``, all pages);
4. decide (``reconcile.py``, ``drift.py``: pure) and apply (``corrections.py``: one
   transaction, idempotent), then advance the watermark to the round's start.

A round that cannot finish an account (the exchange down, keys refused) leaves its watermark
where it was — the next round covers the same window again — and says so in the report.
Keys come from the vault through the gateway's ``ExchangePool``; the credential status hash
says which keys are validated.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import redis.asyncio as aredis
from sqlalchemy import Engine

from services.books import corrections, drift
from services.books.findings import JournalOrder, Report, Window
from services.books.reconcile import corrected, reconcile
from shared.events import TradeStatus
from shared.exchanges import EXCHANGES, TEST_SYMBOLS, adapter
from shared.exchanges.pool import ExchangePool
from shared.redis_text import as_str_map
from shared.settings import ReconcileSettings
from shared.state import cred_status_key
from shared.vault import INDEX

log = logging.getLogger("piggy.books.reconcile")
VAULT_PREFIX = "piggy:vault:"


@dataclass
class RoundResult:
    """One round over several accounts: every account's report, and what was written."""

    reports: list[Report] = field(default_factory=list)
    written: list[dict[str, int]] = field(default_factory=list)  # per report: rows by kind
    changed: dict[str, int] = field(default_factory=dict)  # all reports: rows by kind
    started: float = 0.0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(not r.errors for r in self.reports)


async def validated_accounts(redis: aredis.Redis) -> list[tuple[str, str]]:
    """(user, exchange) of every vault entry whose key the credentials service validated.
    The entries are listed by the vault's index set (a service's Redis user may not SCAN)."""
    refs = sorted(_text(r) for r in await redis.smembers(INDEX))
    found: list[tuple[str, str]] = []
    for ref in refs:
        user, sep, exchange = ref[len(VAULT_PREFIX):].rpartition(":")
        if not ref.startswith(VAULT_PREFIX) or not sep or exchange not in EXCHANGES:
            continue
        status = as_str_map(await redis.hgetall(cred_status_key(user, exchange)))
        if status.get("status") == "validated" or status.get("validated") == "1":
            found.append((user, exchange))
    return sorted(set(found))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Reconciler:
    """Rounds of reconciliation against ``engine`` through ``pool`` (which holds the keys)."""

    def __init__(self, engine: Engine, pool: ExchangePool, settings: ReconcileSettings, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.engine = engine
        self.pool = pool
        self.settings = settings
        self.clock = clock

    async def run_round(self, accounts: list[tuple[str, str]], *,
                        origin: str = "product", fill_origin: str = "reconcile",
                        since: datetime | None = None,
                        on_report: Callable[[Report], Awaitable[None]] | None = None
                        ) -> RoundResult:
        """One round over ``accounts``, one after the other (each is small; the exchange's
        rate limits are per account anyway)."""
        result = RoundResult(started=time.time())
        began = time.perf_counter()
        for user_id, exchange in accounts:
            report, changed = await self.account_round(user_id, exchange, origin=origin,
                                                       fill_origin=fill_origin, since=since)
            result.reports.append(report)
            result.written.append(changed)
            for kind, n in changed.items():
                result.changed[kind] = result.changed.get(kind, 0) + n
            if on_report is not None:
                await on_report(report)
        result.seconds = time.perf_counter() - began
        return result

    async def account_round(self, user_id: str, exchange: str, *, origin: str = "product",
                            fill_origin: str = "reconcile", since: datetime | None = None
                            ) -> tuple[Report, dict[str, int]]:
        now = self.clock()
        journal, trade_ids, traded, marks = await asyncio.to_thread(
            corrections.read_account, self.engine, user_id, exchange)
        start = since or self.window_start(user_id, exchange, journal, marks, now)
        window = Window(start, now, margin=timedelta(seconds=self.settings.reconcile_overlap_s),
                        absent_after=timedelta(seconds=self.settings.reconcile_absent_after_s))
        if since is not None:  # an explicit start (a rebuild): every row in it is judged
            window = replace(window, margin=timedelta(0))
        symbols = sorted(set(traded) | {TEST_SYMBOLS[exchange]}
                         | set(self.settings.reconcile_symbols))
        sole = self.settings.sole(user_id, exchange)
        try:
            fetched = await self._fetch(user_id, exchange, symbols, start, sole)
        except Exception as exc:  # noqa: BLE001 - one account's failure is its report's error
            why = f"{exchange} for {user_id}: {type(exc).__name__}: {str(exc)[:200]}"
            log.warning("reconcile: %s; this account's window is retried next round", why)
            return Report(user_id, exchange, start, now, errors=(why,)), {}
        holdings, holdings_at, orders, fills = fetched
        report = reconcile(user_id=user_id, exchange=exchange, journal=journal,
                           journal_trade_ids=trade_ids, orders=orders, fills=fills,
                           window=window, sent_as=adapter(exchange).client_order_id)
        baseline_prefix = corrections.baseline_name(user_id, exchange)
        kept, new_baseline = corrections.read_baseline(marks, baseline_prefix), None
        if holdings is not None:
            moved = drift.movement(corrected(journal, report), until=holdings_at)
            found, baseline = drift.check(holdings, moved, kept, holdings_at,
                                          relative=self.settings.reconcile_drift_tolerance)
            report = replace(report, drift=tuple(found))
            new_baseline = baseline if kept is None else None
        changed = await asyncio.to_thread(corrections.apply, self.engine, report, origin=origin,
                                          fill_origin=fill_origin, watermark=now,
                                          baseline=new_baseline)
        return report, changed

    def window_start(self, user_id: str, exchange: str, journal: list[JournalOrder],
                     marks: dict[str, str], now: datetime) -> datetime:
        """From the last round (minus the overlap), or earlier for an ``unknown`` row; a first
        round looks back ``PIGGY_RECONCILE_LOOKBACK_S``."""
        overlap = timedelta(seconds=self.settings.reconcile_overlap_s)
        mark = marks.get(corrections.watermark_name(user_id, exchange))
        start = now - timedelta(seconds=self.settings.reconcile_lookback_s)
        if mark:
            with contextlib.suppress(ValueError):  # unreadable: as if there were none
                start = datetime.fromisoformat(mark) - overlap
        # an unknown outcome pins the window until judged; a rejected line needs no pin (every
        # moment is covered by some round's window: a pin would re-read history for ever)
        unsettled = [r.created_at for r in journal if r.status == TradeStatus.UNKNOWN.value]
        if unsettled:
            start = min(start, min(unsettled) - overlap)
        return start

    async def _fetch(self, user_id: str, exchange: str, symbols: list[str], since: datetime,
                     sole: bool) -> tuple[dict[str, Decimal] | None, datetime, list[Any],
                                          list[Any]]:
        venue = adapter(exchange)
        client = await self.pool.client(user_id, exchange)
        holdings = None
        holdings_at = self.clock()
        if sole:
            holdings = await self.pool.read(exchange, lambda: venue.holdings(client))
        orders: list[Any] = []
        fills: list[Any] = []
        for symbol in symbols:
            if symbol not in (client.markets or {}):
                continue  # a configured symbol this exchange does not list
            orders += await self.pool.read(exchange, partial(venue.orders_since, client, symbol,
                                                             since))
            fills += await self.pool.read(exchange, partial(venue.fills_since, client, symbol,
                                                            since))
        return holdings, holdings_at, orders, fills
