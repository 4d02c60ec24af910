"""The reconciler inside the books service: the loop, its metrics and its alert.

``start`` builds the reconciler (the exchange pool reads keys from the vault: the books
service needs ``PIGGY_MASTER_KEY`` or the key file in ``PIGGY_HOME``) and runs a round at
start-up and every ``PIGGY_RECONCILE_INTERVAL_S``. Each account's report that is not clean
is published as ``ReconcileFindings`` on the control stream, which the notifier turns into
an alert. Replicas may run rounds at the same time: every write is idempotent
(``corrections.py``), so the worst case is the same exchange history read twice.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import Engine

from services.books.context import BooksContext
from services.books.findings import Report
from services.books.reconciler import Reconciler, RoundResult, validated_accounts
from shared import streams
from shared.bus import Bus
from shared.events import ReconcileFindings
from shared.exchanges.budget import RateBudgetSettings
from shared.exchanges.gate import ExchangeGate
from shared.exchanges.pool import ExchangePool
from shared.metrics import Metrics
from shared.settings import ExchangeSettings, ReconcileSettings, VaultSettings
from shared.vault import Vault, load_master_key

log = logging.getLogger("piggy.books.reconcile")
MAX_SENTENCES = 10


def build(bus: Bus, engine: Engine, settings: ReconcileSettings | None = None) -> Reconciler:
    """A reconciler with the product's exchange pool (keys from the vault in ``bus``'s Redis)."""
    vault = Vault(bus.redis, load_master_key(VaultSettings()))
    exchange = ExchangeSettings()
    # the shared rate budget and kraken's nonce turns: its reads never crowd out an order
    gate = ExchangeGate(bus.redis, RateBudgetSettings(), exchange.exchange_timeout_ms)
    return Reconciler(engine, ExchangePool(exchange, vault, gate=gate),
                      settings or ReconcileSettings())


def event_of(report: Report) -> ReconcileFindings | None:
    """The alert-worthy part of one account's report (None: clean)."""
    if report.clean:
        return None
    return ReconcileFindings(
        user_id=report.user_id, exchange=report.exchange,
        counts={k: n for k, n in report.counts().items() if n},
        findings=[f"{f.kind.value}: {f.note}"[:400] for f in report.alerting()][:MAX_SENTENCES],
        drift=[f"{d.asset}: balance {d.view()['balance']}, the journal explains "
               f"{d.view()['expected']} (drift {d.view()['drift']}, tolerance "
               f"{d.view()['tolerance']})" for d in report.drift][:MAX_SENTENCES],
        errors=list(report.errors)[:MAX_SENTENCES])


def observe(metrics: Metrics, result: RoundResult) -> None:
    """``piggy_reconcile_*`` from one round (labels: exchange and kind, never a user)."""
    for report, written in zip(result.reports, result.written, strict=True):
        metrics.reconcile_rounds.labels(report.exchange, "failed" if report.errors
                                        else "ok").inc()
        for kind, n in report.counts().items():
            if n:
                metrics.reconcile_findings.labels(report.exchange, kind).inc(n)
        for kind, n in written.items():
            if n:
                metrics.reconcile_corrected.labels(report.exchange, kind).inc(n)
        metrics.reconcile_drift.labels(report.exchange).set(len(report.drift))
    if result.ok:
        metrics.reconcile_last_success.set(result.started)


async def round_once(ctx: BooksContext, settings: ReconcileSettings) -> RoundResult:
    """One round over every validated account; alerts published as the reports come. The
    reconciler (and the vault key it needs) is made on the first round that has an account."""
    accounts = await validated_accounts(ctx.bus.redis)
    reconciler = ctx.extras.get("reconciler")
    if not isinstance(reconciler, Reconciler):
        if not accounts:
            return RoundResult(started=time.time())
        reconciler = ctx.extras["reconciler"] = build(ctx.bus, ctx.books.engine, settings)

    async def publish(report: Report) -> None:
        event = event_of(report)
        if event is not None:
            await ctx.bus.publish(event, streams.CONTROL)
        for f in report.corrections():
            log.info("reconcile %s %s: %s", report.exchange, report.user_id, f.note)

    result = await reconciler.run_round(accounts, on_report=publish)
    observe(ctx.bus.observer.metrics, result)
    log.info("reconcile round: %d account(s) in %.1fs, %s", len(accounts), result.seconds,
             ", ".join(f"{k} {n}" for k, n in sorted(result.changed.items()) if n)
             or "nothing to correct")
    return result


async def loop(ctx: BooksContext, settings: ReconcileSettings) -> None:
    while True:
        began = time.monotonic()
        try:
            await round_once(ctx, settings)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed round is logged; the next retries
            log.warning("reconcile round failed: %s: %s", type(exc).__name__, str(exc)[:200])
        await asyncio.sleep(max(1.0, settings.reconcile_interval_s
                                - (time.monotonic() - began)))


async def start(ctx: BooksContext, settings: ReconcileSettings | None = None) -> None:
    ctx.extras["reconcile_task"] = asyncio.create_task(
        loop(ctx, settings or ReconcileSettings()), name="books-reconcile")


async def stop(ctx: BooksContext) -> None:
    task = ctx.extras.pop("reconcile_task", None)
    if isinstance(task, asyncio.Task):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    reconciler = ctx.extras.pop("reconciler", None)
    if isinstance(reconciler, Reconciler):
        await reconciler.pool.close()
