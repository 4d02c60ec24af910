"""Reconciliation against the sandbox over HTTP (unmodified ccxt), a real Redis (the vault,
the credential status) and a real database (SQLite and PostgreSQL).

Each exchange's account gets, before one round: an order the journal has right, an order
whose answer was lost (its line says ``unknown``, filled 0), an order the exchange filled
while its line says "rejected … not re-sent", and an order placed by hand at the exchange.
After the round every one of them is in the journal with the exchange's own numbers (a fee
in the base currency on binanceus), the fills are recorded, the hand-placed order is
``external`` and counts in positions only when asked, every correction has an audit row, and
a second round changes nothing. Then the database is lost and ``piggy books rebuild
--from-exchange``'s restore brings every LIVE order and fill back.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aredis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from sandbox import AsyncSandboxAdmin, SandboxServer
from services.books import corrections
from services.books.findings import Kind
from services.books.reconciler import Reconciler, validated_accounts
from services.executor.routing import client_order_id
from shared.books import journal, store
from shared.books.db import open_database
from shared.books.holdings import entries
from shared.books.models import Audit, Fill, Order
from shared.books.positions import compute
from shared.events import Mode, Side, TradeLogged, TradeStatus, new_id
from shared.exchanges import TEST_SYMBOLS, adapter
from shared.exchanges.base import ExchangeAdapter, VenueOrder
from shared.exchanges.pool import ExchangePool
from shared.settings import ExchangeSettings, ReconcileSettings
from shared.state import set_credential_status
from shared.vault import ApiKeyPair, Vault

pytestmark = pytest.mark.integration
MARKET_IDS = {"binanceus": "BTCUSDT", "kraken": "XXBTZUSD", "coinbase": "BTC-USD"}
USER = "saver"


@dataclass
class Account:
    exchange: str
    admin: AsyncSandboxAdmin
    key: dict[str, Any]
    pool: ExchangePool
    reconciler: Reconciler
    venue: ExchangeAdapter
    symbol: str
    started: datetime

    async def client(self) -> Any:
        return await self.pool.client(USER, self.exchange)

    async def exchange_orders(self) -> list[VenueOrder]:
        return await self.venue.orders_since(await self.client(), self.symbol,
                                             self.started - timedelta(minutes=1))


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(port=0, seed=1) as sb:
        yield sb


async def open_account(sandbox: SandboxServer, redis_url: str, engine: Engine,
                       exchange: str, **settings: Any) -> Account:
    url = sandbox.url if exchange == "binanceus" else f"{sandbox.url}/{exchange}"
    admin = AsyncSandboxAdmin(sandbox.url, venue=None if exchange == "binanceus" else exchange)
    await admin.set_price(MARKET_IDS[exchange], "50000")
    quote = TEST_SYMBOLS[exchange].split("/")[1]
    key = await admin.create_key(balances={quote: "10000"})
    redis = aredis.from_url(redis_url, decode_responses=True)
    vault = Vault(redis, b"k" * 32)
    await vault.put(USER, exchange, ApiKeyPair(key["api_key"], key["secret"]))
    await set_credential_status(redis, USER, exchange, {"status": "validated",
                                                        "validated": True, "can_trade": True})
    pool = ExchangePool(ExchangeSettings.model_validate({f"{exchange}_url": url}), vault)
    reconciler = Reconciler(engine, pool, ReconcileSettings(**settings))
    return Account(exchange, admin, key, pool, reconciler, adapter(exchange),
                   TEST_SYMBOLS[exchange], datetime.now(UTC))


def line(account: Account, status: TradeStatus, *, order: dict[str, Any] | None = None,
         reasons: list[str] | None = None, intent_id: str | None = None) -> TradeLogged:
    intent_id = intent_id or new_id()
    fee = (order or {}).get("fee") or {}
    return TradeLogged(
        intent_id=intent_id, user_id=USER, exchange=account.exchange, symbol=account.symbol,
        side=Side.BUY, amount_usd=Decimal(7), mode=Mode.LIVE, status=status,
        order_id=str((order or {}).get("id") or ""), client_order_id=client_order_id(intent_id),
        filled=Decimal(str((order or {}).get("filled") or 0)),
        cost=Decimal(str((order or {}).get("cost") or 0)),
        fee=Decimal(str(fee.get("cost") or 0)), fee_currency=str(fee.get("currency") or ""),
        reasons=reasons or [], route="gateway")


async def place(account: Account, cid: str) -> dict[str, Any]:
    client = await account.client()
    sent = await account.venue.buy_with_cost(client, account.symbol, Decimal(7),
                                             account.venue.client_order_id(cid))
    return await account.venue.complete(client, account.symbol, sent)


def write(engine: Engine, *lines: TradeLogged) -> None:
    store.journal(engine, journal.rows_for([(f"{i + 1}-0", ln) for i, ln in enumerate(lines)]))


async def a_days_trading(account: Account, engine: Engine) -> dict[str, str]:
    """The four cases at the exchange and in the journal; -> case → client order id."""
    intent_id = new_id()
    placed = await place(account, client_order_id(intent_id))
    right = line(account, TradeStatus.FILLED, order=placed, intent_id=intent_id)

    lost = line(account, TradeStatus.UNKNOWN, reasons=["no outcome after 10 lookup(s)"])
    await account.admin.drop_answers(account.key["api_key"], 1, hold_ms=50)
    with pytest.raises(Exception):  # noqa: B017 - the answer is lost: any transport error
        await place(account, lost.client_order_id)

    not_resent = line(account, TradeStatus.REJECTED, reasons=[
        "the exchange has no order with client id …; not re-sent"])
    await place(account, not_resent.client_order_id)

    await account.admin.external_order(account.key["api_key"], MARKET_IDS[account.exchange],
                                       quote_qty="6")
    write(engine, right, lost, not_resent)
    return {"right": right.client_order_id, "lost": lost.client_order_id,
            "not_resent": not_resent.client_order_id}


def rows(engine: Engine, model: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(model)).mappings().all())


def assert_books_equal_the_exchange(engine: Engine, orders: list[VenueOrder]) -> None:
    by_order = {r["order_id"]: r for r in rows(engine, Order) if r["mode"] == "LIVE"}
    for o in orders:
        row = by_order.get(o.order_id)
        assert row is not None, f"order {o.order_id} at the exchange is not in the books"
        assert (row["status"], row["filled"], row["cost"], row["fee"]) == (
            "filled", o.filled, o.cost, o.fee), (row, o)
        if o.fee:
            assert row["fee_currency"] == o.fee_currency
    assert len(by_order) == len(orders)


@pytest.mark.parametrize("exchange", ["binanceus", "kraken", "coinbase"])
async def test_one_round_puts_every_case_in_the_books_with_the_exchanges_numbers(
        exchange: str, sandbox: SandboxServer, redis_url: str, database_url: str) -> None:
    engine = open_database(database_url)
    account = await open_account(sandbox, redis_url, engine, exchange)
    try:
        cids = await a_days_trading(account, engine)
        assert await validated_accounts(account.pool._vault._redis) == [(USER, exchange)]
        report, written = await account.reconciler.account_round(USER, exchange)
        at_exchange = await account.exchange_orders()
        assert len(at_exchange) == 4
        kinds = report.counts()
        assert (kinds["matched"], kinds["resolved"], kinds["external"]) == (1, 2, 1), kinds
        assert_books_equal_the_exchange(engine, at_exchange)

        orders = {r["client_order_id"]: r for r in rows(engine, Order)}
        for case in ("lost", "not_resent"):  # the product's intents, resolved in place
            assert orders[cids[case]]["intent_id"] is not None
            assert orders[cids[case]]["status"] == "filled"
        external = [r for r in rows(engine, Order) if r["origin"] == "external"]
        assert len(external) == 1 and external[0]["intent_id"] is None

        fills = rows(engine, Fill)
        assert {f["order_id"] for f in fills} == {o.order_id for o in at_exchange}
        assert all(f["origin"] == "reconcile" for f in fills)
        audit = rows(engine, Audit)
        assert sorted(a["kind"] for a in audit if a["kind"] != "missing_fill") == [
            "external", "resolved", "resolved"]
        assert all(a["note"] for a in audit)
        resolved = [a for a in audit if a["kind"] == "resolved"]
        assert {a["before"]["status"] for a in resolved} == {"unknown", "rejected"}

        # positions: the product's three orders; the hand-placed one only when asked
        ours = [o for o in at_exchange if o.order_id != external[0]["order_id"]]
        with Session(engine) as session:
            order_rows = list(session.scalars(select(Order)))
        base = TEST_SYMBOLS[exchange].split("/")[0]
        held = sum((o.filled - (o.fee if o.fee_currency == base else 0) for o in ours),
                   Decimal(0))
        [position] = compute(entries(order_rows)).positions
        assert position.quantity == held
        everything = sum((o.filled - (o.fee if o.fee_currency == base else 0)
                          for o in at_exchange), Decimal(0))
        [with_external] = compute(entries(order_rows, include_external=True)).positions
        assert with_external.quantity == everything
        if exchange == "binanceus":  # the fee is charged in BTC and leaves what is held
            assert all(o.fee_currency == "BTC" and o.fee > 0 for o in at_exchange)
            assert position.quantity < sum((o.filled for o in ours), Decimal(0))

        again, written_again = await account.reconciler.account_round(USER, exchange)
        assert again.corrections() == [] and sum(written_again.values()) == 0
        assert len(rows(engine, Audit)) == len(audit)
        assert written[Kind.MISSING_FILL.value] == len(fills)
    finally:
        await account.pool.close()
        engine.dispose()


@pytest.mark.parametrize("exchange", ["binanceus", "coinbase"])
async def test_the_database_lost_is_restored_from_the_exchanges_history(
        exchange: str, sandbox: SandboxServer, redis_url: str, database_url: str,
        tmp_path: Any) -> None:
    engine = open_database(database_url)
    account = await open_account(sandbox, redis_url, engine, exchange)
    try:
        await a_days_trading(account, engine)
        await account.reconciler.account_round(USER, exchange)
        live = {r["order_id"]: r for r in rows(engine, Order) if r["mode"] == "LIVE"}
        trades = {f["trade_id"]: f for f in rows(engine, Fill)}

        empty = open_database(f"sqlite:///{tmp_path / 'restored.sqlite3'}")
        restorer = Reconciler(empty, account.pool, ReconcileSettings())
        result = await restorer.run_round([(USER, exchange)], since=account.started
                                          - timedelta(minutes=5), origin="rebuild",
                                          fill_origin="rebuild")
        assert result.ok
        restored = {r["order_id"]: r for r in rows(empty, Order)}
        assert set(restored) == set(live)
        fields = ("client_order_id", "status", "filled", "cost", "fee", "fee_currency",
                  "symbol", "side", "mode")
        for order_id, row in live.items():
            assert tuple(restored[order_id][f] for f in fields) == tuple(
                row[f] for f in fields), order_id
        assert {r["origin"] for r in restored.values()} == {"rebuild", "external"}
        assert set({f["trade_id"] for f in rows(empty, Fill)}) == set(trades)
        empty.dispose()
    finally:
        await account.pool.close()
        engine.dispose()


async def test_a_watermark_and_baseline_are_kept_and_drift_is_found(
        sandbox: SandboxServer, redis_url: str, database_url: str) -> None:
    engine = open_database(database_url)
    account = await open_account(sandbox, redis_url, engine, "coinbase",
                                 reconcile_sole_accounts=[f"{USER}:coinbase"])
    try:
        await a_days_trading(account, engine)
        first, _ = await account.reconciler.account_round(USER, "coinbase")
        assert first.drift == ()  # the first check takes the baseline
        marks = corrections.read_account(engine, USER, "coinbase")[3]
        assert corrections.watermark_name(USER, "coinbase") in marks
        assert corrections.read_baseline(marks, corrections.baseline_name(USER, "coinbase"))
        clean, _ = await account.reconciler.account_round(USER, "coinbase")
        assert clean.drift == () and clean.clean, clean.view()
        balances = await account.venue.holdings(await account.client())
        await account.admin.set_key(account.key["api_key"], balances={
            "USD": balances["USD"] - 100, "BTC": balances["BTC"]})  # a withdrawal
        drifted, _ = await account.reconciler.account_round(USER, "coinbase")
        [drift] = drifted.drift
        assert drift.asset == "USD" and drift.drift == Decimal(-100)
        assert not drifted.clean
    finally:
        await account.pool.close()
        engine.dispose()


def test_piggy_reconcile_and_rebuild_from_exchange_as_an_operator_runs_them(
        redis_url: str, tmp_path: Any) -> None:
    """The real CLI in its own process: one round prints the report (text and --json), a
    second writes nothing, and the restore fills an empty database; no secret is printed."""
    import asyncio

    from sandbox import SandboxAdmin
    from sandbox.server import SandboxThread
    from shared.settings import VaultSettings
    from shared.vault import load_master_key
    from tests.support.cli import clean_env, run_piggy

    with SandboxThread(port=0, seed=1) as sandbox:
        admin = SandboxAdmin(sandbox.url, venue="coinbase")
        admin.set_price("BTC-USD", "50000")
        key = admin.create_key(balances={"USD": "1000"})
        admin.external_order(key["api_key"], "BTC-USD", quote_qty="4")

        async def save_key() -> None:
            redis = aredis.from_url(redis_url, decode_responses=True)
            vault = Vault(redis, load_master_key(VaultSettings(home=tmp_path)))
            await vault.put(USER, "coinbase", ApiKeyPair(key["api_key"], key["secret"]))
            await set_credential_status(redis, USER, "coinbase", {"status": "validated"})
            await redis.aclose()

        asyncio.run(save_key())
        env = clean_env(tmp_path, PIGGY_HOME=str(tmp_path), PIGGY_REDIS_URL=redis_url,
                        PIGGY_COINBASE_URL=f"{sandbox.url}/coinbase", COLUMNS="300")
        text = run_piggy(env, "reconcile", "--user", USER)
        assert text.returncode == 0, text.stderr
        assert f"differences coinbase {USER}" in text.stdout
        assert "1 external" in text.stdout and "placed outside CryptoPiggy" in text.stdout
        again = run_piggy(env, "reconcile", "--exchange", "coinbase", "--json")
        assert again.returncode == 0, again.stderr
        [report] = __import__("json").loads(again.stdout)
        assert report["counts"]["matched"] == 1 and report["counts"]["external"] == 0
        assert sum(report["written"].values()) == 0 and report["clean"]
        for run in (text, again):
            assert key["secret"] not in run.stdout + run.stderr

        restored = f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        rebuilt = run_piggy(env, "books", "rebuild", "--from-exchange", "--database-url",
                            restored)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "restored 1 orders and 1 fills from 1 account(s)" in rebuilt.stdout
        engine = open_database(restored)
        assert [r["origin"] for r in rows(engine, Order)] == ["external"]
        engine.dispose()

        nobody = run_piggy(env, "reconcile", "--user", "nobody")
        assert nobody.returncode == 1 and "no validated keys for nobody" in nobody.stderr


async def test_the_books_service_reconciles_at_start_up_and_alerts_on_the_control_stream(
        sandbox: SandboxServer, redis_url: str, database_url: str, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import time

    from bench.harness import stream_bodies
    from shared import streams
    from shared.settings import VaultSettings
    from shared.vault import load_master_key
    from tests.support.books_db import books_service

    monkeypatch.setenv("PIGGY_HOME", str(tmp_path))  # the vault key the service reads
    monkeypatch.setenv("PIGGY_COINBASE_URL", f"{sandbox.url}/coinbase")
    admin = AsyncSandboxAdmin(sandbox.url, venue="coinbase")
    await admin.set_price("BTC-USD", "50000")
    key = await admin.create_key(balances={"USD": "1000"})
    await admin.external_order(key["api_key"], "BTC-USD", quote_qty="4")
    redis = aredis.from_url(redis_url, decode_responses=True)
    vault = Vault(redis, load_master_key(VaultSettings(home=tmp_path)))
    await vault.put(USER, "coinbase", ApiKeyPair(key["api_key"], key["secret"]))
    await set_credential_status(redis, USER, "coinbase", {"status": "validated"})
    try:
        async with books_service(redis_url, database_url) as ctx:
            deadline = time.monotonic() + 60
            found: list[dict[str, Any]] = []
            while not found and time.monotonic() < deadline:
                found = [b for b in await stream_bodies(redis, streams.CONTROL)
                         if b.get("type") == "ReconcileFindings"]
                await asyncio.sleep(0.2)
            assert found, "no ReconcileFindings on the control stream"
            assert found[0]["user_id"] == USER and found[0]["counts"]["external"] == 1
            assert key["secret"] not in str(found)
            external = [r for r in rows(ctx.books.engine, Order) if r["origin"] == "external"]
            assert len(external) == 1
            text = ctx.bus.observer.metrics.registry.get_sample_value(
                "piggy_reconcile_findings_total", {"exchange": "coinbase", "kind": "external"})
            assert text == 1.0
    finally:
        await redis.aclose()
