"""``piggy reconcile``: one reconciliation round now, its report printed; and
``piggy books rebuild --from-exchange`` (``rebuild_from_exchange``).

The round runs in this process, not in the books service: the CLI reads the same state the
service does — the books database (``PIGGY_DATABASE_URL`` or SQLite in ``PIGGY_HOME``), the
vault in Redis and its key (``PIGGY_MASTER_KEY`` or ``PIGGY_HOME/master.key``) — so it works
whether or not the service is up (the database lost, the service stopped on purpose), needs
no new stream or reply channel, and prints its report as soon as the exchange answers.
Running it beside the service is safe: every write is idempotent, keyed on the exchange's ids
and an audit ``dedup_key`` (``services/books/corrections.py``). It does not publish an alert:
the operator is reading the report.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from sqlalchemy import Engine

from piggy import books as books_cli
from piggy import checks, client, output
from services.books.findings import Kind, Report
from services.books.reconciler import Reconciler, RoundResult, validated_accounts
from shared.books.models import Origin
from shared.bus import Bus
from shared.exchanges import EXCHANGES
from shared.exchanges.budget import RateBudgetSettings
from shared.exchanges.gate import ExchangeGate
from shared.exchanges.pool import ExchangePool
from shared.settings import ExchangeSettings, ReconcileSettings, VaultSettings
from shared.vault import Vault, VaultError, load_master_key

REBUILD_LOOKBACK = timedelta(days=30)


async def _round(engine: Engine, user: str | None, exchange: str | None, *,
                 since: datetime | None = None, origin: str = Origin.PRODUCT.value,
                 fill_origin: str = Origin.RECONCILE.value,
                 say: Callable[[str], None] = lambda _m: None) -> tuple[RoundResult, int]:
    bus = Bus(client.redis_url(), "cli")
    pool: ExchangePool | None = None
    try:
        accounts = [(u, x) for u, x in await validated_accounts(bus.redis)
                    if (user is None or u == user) and (exchange is None or x == exchange)]
        exchanges = exchange_settings()
        gate = ExchangeGate(bus.redis, RateBudgetSettings(), exchanges.exchange_timeout_ms)
        pool = ExchangePool(exchanges, Vault(bus.redis, load_master_key(VaultSettings())),
                            gate=gate)
        reconciler = Reconciler(engine, pool, ReconcileSettings())

        async def progress(report: Report) -> None:
            say(f"{report.exchange} {report.user_id}: " + _summary(report))

        result = await reconciler.run_round(accounts, since=since, origin=origin,
                                            fill_origin=fill_origin, on_report=progress)
        return result, len(accounts)
    finally:
        if pool is not None:
            await pool.close()
        await bus.redis.aclose()


def exchange_settings() -> ExchangeSettings:
    """``PIGGY_<EXCHANGE>_URL`` when set, else the running stack's sandbox venue (a second
    shell needs no variables to reach the stack ``piggy up`` started)."""
    settings = ExchangeSettings()
    found = {f"{x}_url": url for x in EXCHANGES if (url := client.exchange_url(x))}
    return settings.model_copy(update=found)


def _run(coro: Any) -> tuple[RoundResult, int]:
    try:
        return asyncio.run(coro)
    except VaultError as exc:
        output.fail(f"the vault: {exc}")
    except (OSError, ConnectionError) as exc:
        output.fail(f"Redis unreachable at {client.redis_url()} ({type(exc).__name__}); is "
                    "`piggy up` running, and is PIGGY_REDIS_URL right?")


def _summary(report: Report) -> str:
    if report.errors:
        return "could not finish: " + "; ".join(report.errors)
    counts = report.counts()
    parts = [f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n]
    drift = (f"balance drift in {', '.join(d.asset for d in report.drift)}" if report.drift
             else "")
    return ", ".join(parts or ["nothing at the exchange in the window"]) + (
        f"; {drift}" if drift else "")


def print_report(result: RoundResult) -> None:
    """One line per account, then one per finding that is not a match, then the drift."""
    console = output.out()
    for report in result.reports:
        mark = "[red]FAILED[/]" if report.errors else ("[green]clean[/]" if report.clean
                                                      else "[yellow]differences[/]")
        console.print(f"{mark} {report.exchange} {report.user_id} (orders since "
                      f"{report.since:%Y-%m-%d %H:%M} UTC): {_summary(report)}")
        for f in report.findings:
            if f.kind is Kind.MATCHED:
                continue
            console.print(f"  {f.kind.value:<16} {f.order_id or '-':<14} {f.note}",
                          markup=False, highlight=False)
        for d in report.drift:
            v = d.view()
            console.print(f"  {'drift':<16} {d.asset:<14} balance {v['balance']}, the journal "
                          f"explains {v['expected']}: {v['drift']} beyond fees and rounding "
                          f"(tolerance {v['tolerance']})", highlight=False)


def reconcile(user: str | None = typer.Option(None, "--user", callback=checks.user),
              exchange: str | None = typer.Option(None, "--exchange", callback=checks.exchange,
                                                  help="one exchange (default: every one)"),
              as_json: bool = typer.Option(False, "--json", help="the report as JSON")) -> None:
    """Compare the books with each exchange's own orders, trades and balances now; correct
    the books (the exchange's numbers win, every change audited) and print the report."""
    engine = books_cli.open_books(migrate=True).engine
    result, accounts = _run(_round(engine, user, exchange))
    if not accounts:
        output.fail("no validated keys" + (f" for {user}" if user else "")
                    + (f" on {exchange}" if exchange else "")
                    + ": nothing to reconcile (`piggy keys` lists them)")
    if as_json:
        output.emit_json([{**r.view(), "written": w}
                          for r, w in zip(result.reports, result.written, strict=True)])
    else:
        print_report(result)
    raise typer.Exit(output.OK if result.ok else output.FAILED)


def rebuild_from_exchange(engine: Engine, say: Callable[[str], None]) -> None:
    """Every LIVE order and fill of every validated account, from the exchanges' history of
    the last 30 days (or ``PIGGY_RECONCILE_LOOKBACK_S`` when longer), into ``engine``."""
    lookback = max(REBUILD_LOOKBACK, timedelta(seconds=ReconcileSettings().reconcile_lookback_s))
    since = datetime.now(UTC) - lookback
    say(f"restoring LIVE orders and fills since {since:%Y-%m-%d %H:%M} UTC from every "
        "exchange with validated keys…")
    result, accounts = _run(_round(engine, None, None, since=since,
                                   origin=Origin.REBUILD.value, fill_origin=Origin.REBUILD.value,
                                   say=say))
    if not accounts:
        output.fail("no validated keys in the vault: nothing to restore from")
    orders = sum(w.get(Kind.MISSING_ORDER.value, 0) + w.get(Kind.EXTERNAL.value, 0)
                 + w.get(Kind.DUPLICATE.value, 0) for w in result.written)
    fills = sum(w.get(Kind.MISSING_FILL.value, 0) for w in result.written)
    say(f"restored {orders} orders and {fills} fills from {accounts} account(s)")
    if not result.ok:
        output.fail("some accounts could not be read; run it again when the exchange answers")
