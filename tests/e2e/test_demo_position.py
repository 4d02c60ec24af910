"""``make demo``'s flow (``piggy demo --once``) prints, after the $2 test buy, the user's
position read from the books — quantity, cost with fee, value now — and ``piggy positions
--user demo --json`` shows the same numbers afterwards (the real CLI, the real stack)."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.cli import clean_env, ports_env, run_piggy
from tests.support.stack import free_ports

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(("exchange", "quote", "fee_in"), [
    ("binanceus", "USDT", "BTC"),  # binance charges a buy's fee in what it receives
    ("kraken", "USD", "USD"),  # kraken in the quote, on top of the cost (paper as live)
])
def test_demo_prints_the_journaled_position_and_piggy_positions_agrees(
        redis_url: str, tmp_path: Path, exchange: str, quote: str, fee_in: str) -> None:
    ports = free_ports()
    env = clean_env(tmp_path / "h", PIGGY_HOME=str(tmp_path / "state"), PIGGY_REDIS_URL=redis_url,
                    PIGGY_NOTIFIER_PORT=str(ports.notifier), PIGGY_BOOKS_PORT=str(ports.books),
                    **ports_env(ports))
    demo = run_piggy(env, "demo", "--once", "--exchange", exchange, timeout=240)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    line = next((ln for ln in demo.stdout.splitlines()
                 if ln.startswith("position (from the books): ")), "")
    found = re.search(rf"PAPER {exchange} BTC: (\S+) BTC held, cost with fees (\S+) {quote} "
                      rf"\(fees (\S+) {fee_in}\), value now (\S+) {quote} at (\S+) \(FIFO\)",
                      line)
    assert found, demo.stdout[-3000:]
    quantity, cost, fee, value, price = (Decimal(g) for g in found.groups())
    assert fee > 0 and cost > 0 and value == quantity * price  # $2 rounds up to a lot, as live

    shown = run_piggy(env, "positions", "--user", "demo", "--json")
    assert shown.returncode == 0, shown.stderr
    [p] = json.loads(shown.stdout)["positions"]
    assert (Decimal(p["quantity"]), Decimal(p["cost_basis"]), Decimal(p["fees"][fee_in])) == (
        quantity, cost, fee)
    assert p["mode"] == "PAPER" and p["method"] == "FIFO"
