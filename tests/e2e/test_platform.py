"""The platform as a user runs it: services as processes, the real CLI, a real Redis."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest

from bench.harness import wait_healthy
from piggy.ops import wait_outcome
from piggy.stack import Child
from shared import streams, tradelog
from shared.bus import decode_entry
from shared.events import OrderIntent
from tests.support.inprocess import client_bus
from tests.support.redis_server import free_port
from tests.support.stack import piggy, running_stack

pytestmark = pytest.mark.e2e


def test_test_buy_lands_in_the_trade_log_as_paper_with_one_correlation_id(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url) as stack:
        bought = piggy(stack, "test-buy", "--usd", "2", "--symbol", "BTC/USDT", "--user", "e2e")
        assert bought.returncode == 0, bought.stdout + bought.stderr
        assert "PAPER filled" in bought.stdout
        listed = piggy(stack, "trades", "--user", "e2e", "--json")
        assert listed.returncode == 0, listed.stderr
        lines = json.loads(listed.stdout)
        assert len(lines) == 1
        line = lines[0]
        assert line["mode"] == "PAPER" and line["source"] == "test-buy"
        assert line["intent_id"] in bought.stdout and line["order_id"] == f"paper-{line['intent_id']}"

        async def hops() -> set[str]:
            async with client_bus(redis_url) as bus:
                ids = set()
                for stream in (streams.INTENTS, streams.DECISIONS, streams.TRADES):
                    raw = await bus.redis.execute_command("XRANGE", stream, "-", "+", NEVER_DECODE=True)
                    ids |= {decode_entry(f)["correlation_id"] for _i, f in raw}
                return ids

        assert asyncio.run(hops()) == {line["correlation_id"]}


def test_bad_amount_is_refused_with_a_clear_error_and_nothing_is_published(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, sandbox=False) as stack:
        result = piggy(stack, "test-buy", "--usd", "two dollars")
        assert result.returncode == 2
        assert "is not an amount in USD" in result.stderr + result.stdout


def test_two_executor_processes_split_a_burst_and_fill_each_intent_once(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, sandbox=False) as stack:
        first = next(c for c in stack.children if c.name == "executor")
        port = free_port()
        second = Child("executor-2", first.argv, f"http://127.0.0.1:{port}/healthz",
                       first.env | {"PIGGY_HEALTH_PORT": str(port)}, tmp_path / "logs" / "executor-2.log")
        second.start()
        try:
            wait_healthy(second, 60)  # subscribed before the burst, however slow the machine
            counts = asyncio.run(_burst(redis_url, 200))
        finally:
            second.stop()
        assert counts["lines"] == 200 and counts["distinct"] == 200
        assert len(counts["by_consumer"]) == 2, (counts["by_consumer"], second.log_tail())
        assert min(counts["by_consumer"].values()) >= 20


async def _burst(redis_url: str, n: int) -> dict:
    async with client_bus(redis_url) as bus:
        await asyncio.sleep(1.0)  # both executors subscribed
        intents = [OrderIntent(user_id=f"burst-{i % 7}", symbol="BTC/USDT", amount_usd=Decimal(2))
                   for i in range(n)]
        for intent in intents:
            await bus.publish(intent, streams.INTENTS)
        for intent in intents:
            assert await wait_outcome(bus, intent.intent_id, 30) is not None
        lines = await tradelog.read(bus.redis, limit=10 * n)
        ledger_owners: dict[str, int] = {}
        for intent in intents:
            owner = await bus.redis.hget(f"piggy:ledger:{intent.intent_id}", "claimed_by")
            ledger_owners[owner] = ledger_owners.get(owner, 0) + 1
        return {"lines": len(lines), "distinct": len({ln.intent_id for ln in lines}),
                "by_consumer": ledger_owners}


@pytest.mark.parametrize("command", [["strategy", "list"], ["kill"]])
def test_cli_with_redis_unreachable_names_the_cause_and_exits_1(command: list[str]) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ) | {"PIGGY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "piggy.cli", *command], env=env, text=True,
                            capture_output=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    assert result.returncode == 1
    assert "Redis unreachable at redis://127.0.0.1:" in result.stderr and result.stdout == ""
    assert "Traceback" not in result.stdout + result.stderr


def test_test_buy_without_the_api_names_the_cause() -> None:
    """``piggy test-buy`` goes through the API (both modes): with no API to reach it says so."""
    import os
    import subprocess
    import sys

    env = dict(os.environ) | {"PIGGY_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                              "PIGGY_API_PORT": str(free_port()), "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "piggy.cli", "test-buy", "--usd", "2"],
                            env=env, text=True, capture_output=True, timeout=60,
                            stdin=subprocess.DEVNULL, check=False)
    assert result.returncode in (1, 2) and result.stdout == ""
    assert "no API token" in result.stderr or "API unreachable" in result.stderr
    assert "Traceback" not in result.stderr
