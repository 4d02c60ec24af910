"""``piggy positions``, ``piggy pnl`` and ``piggy books export --csv`` run as an operator would
(a clean environment, the real CLI) against a books database in SQLite holding LIVE coinbase
buys charged in USD and a sell, valued at the price a real Redis holds."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from shared import state
from shared.books import journal, store
from shared.books.db import open_database
from shared.books.settings import BooksSettings
from shared.events import Mode, Side, TradeLogged, TradeStatus
from tests.support.cli import clean_env, run_piggy

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _line(n: int, side: str, filled: str, cost: str, fee: str, minutes: int) -> TradeLogged:
    return TradeLogged(intent_id=f"i{n}", user_id="alice", exchange="coinbase", symbol="BTC/USD",
                       side=Side(side), amount_usd=Decimal(cost), mode=Mode.LIVE,
                       status=TradeStatus.FILLED, order_id=f"o{n}", client_order_id=f"c{n}",
                       price=Decimal(cost) / Decimal(filled), filled=Decimal(filled),
                       cost=Decimal(cost), fee=Decimal(fee), fee_currency="USD",
                       ts=T0 + timedelta(minutes=minutes))


@pytest.fixture
def home(tmp_path: Path, redis_url: str) -> Path:
    engine = open_database(BooksSettings(home=tmp_path).url())
    store.journal(engine, journal.rows_for([
        ("1-0", _line(1, "buy", "0.00003976", "1.988", "0.011928", 0)),
        ("2-0", _line(2, "buy", "0.0002", "12", "0.072", 60)),
        ("3-0", _line(3, "sell", "0.0001", "7", "0.042", 120)),
    ]))
    engine.dispose()
    r = redis.Redis.from_url(redis_url)
    r.set(state.price_key("coinbase", "BTC/USD"), "70000")
    r.close()
    return tmp_path


def test_positions_pnl_and_the_tax_export(home: Path, redis_url: str) -> None:
    env = clean_env(home, PIGGY_HOME=str(home), PIGGY_REDIS_URL=redis_url)
    shown = run_piggy(env, "positions", "--user", "alice", "--json")
    assert shown.returncode == 0, shown.stderr
    [p] = json.loads(shown.stdout)["positions"]  # only JSON on stdout
    held = Decimal("0.00003976") + Decimal("0.0002") - Decimal("0.0001")
    first_lot = Decimal("1.988") + Decimal("0.011928")
    # FIFO: the sell took all of the first lot and 0.00006024 of the second (12.072 for 0.0002)
    second_left = Decimal("12.072") * (Decimal("0.0002") - Decimal("0.00006024")) / Decimal(
        "0.0002")
    assert Decimal(p["quantity"]) == held and p["method"] == "FIFO"
    assert Decimal(p["cost_basis"]) == second_left
    assert Decimal(p["value"]) == held * 70000
    gain = Decimal("6.958") - (first_lot + Decimal("12.072") - second_left)
    assert Decimal(p["realized_pnl"]) == gain

    pnl = run_piggy(env, "pnl", "--user", "alice", "--json")
    assert pnl.returncode == 0, pnl.stderr
    [row] = json.loads(pnl.stdout)["pnl"]
    assert Decimal(row["realized_pnl"]) == gain and row["method"] == "FIFO"

    table = run_piggy(env, "positions", "--user", "alice")
    assert "coinbase\tLIVE\tBTC" in table.stdout and "USD" in table.stdout

    exported = run_piggy(env, "books", "export", "--user", "alice", "--csv")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["kind"] for r in rows] == ["lot", "lot", "sale"]
    assert Decimal(rows[0]["cost_basis"]) == first_lot
    assert Decimal(rows[2]["gain"]) == gain and Decimal(rows[2]["proceeds"]) == Decimal("6.958")

    unknown = run_piggy(env, "positions", "--user", "nobody", "--json")
    assert unknown.returncode == 1 and "unknown user 'nobody'" in unknown.stderr
    assert unknown.stdout == ""
