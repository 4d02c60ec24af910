"""``python -m services.strategy`` as a real process on a real Redis, killed and restarted.

A stand-in for the executor answers every intent with a TradeLogged line, so the DCA's
"previous intent finished" check is exercised; nothing else of the stack runs.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aredis
from typer.testing import CliRunner

from piggy.strategy import app as strategy_cli
from services.strategy import backtest as bt
from services.strategy.config import load
from shared import streams
from shared.bus import Bus, decode_entry
from shared.events import Mode, OrderIntent, TradeLogged

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
CONFIG = """
strategies:
  - {name: pig, kind: dca, user_id: alice, symbol: BTC/USDT, amount_usd: "2.5",
     interval_s: 1, budget_usd: "1000"}
  - {name: xo, kind: crossover, user_id: bob, symbol: ETH/USDT, fast: 3, slow: 8,
     amount_usd: "10", cooldown_s: 0}
"""


def now() -> datetime:
    return datetime.now(UTC)


class Service:
    """One strategy process; stopped by its own pid."""

    def __init__(self, env: dict[str, str], log: Path, port: int) -> None:
        self.env, self.log, self.port = env, log, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.healthy_at = self.exited_at = now()

    def spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", "services.strategy"], cwd=REPO,
                                    env=self.env, stdout=out, stderr=subprocess.STDOUT)

    async def start(self) -> datetime:
        """Spawn and wait until healthy; returns when it was spawned (``self.healthy_at`` when
        it answered: under load start-up takes seconds, and the runner may publish before the
        HTTP port answers)."""
        spawned = now()
        self.proc = self.spawn()
        deadline = time.monotonic() + 60  # start-up on a loaded machine takes many seconds
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                with contextlib.suppress(httpx.HTTPError):
                    resp = await http.get(f"http://127.0.0.1:{self.port}/healthz", timeout=0.5)
                    if resp.status_code == 200:
                        assert resp.json()["service"] == "strategy"
                        self.healthy_at = now()
                        return spawned
                await asyncio.sleep(0.05)
        raise AssertionError("strategy service not healthy in 60 s\n" + self.log.read_text()[-3000:])

    async def stop(self, sig: int) -> datetime:
        """Signal and wait for the exit (within 5 s of SIGTERM, even under load); returns when
        it was signalled (``self.exited_at`` when it was gone)."""
        assert self.proc is not None
        at = now()
        self.proc.send_signal(sig)
        await asyncio.to_thread(self.proc.wait, 5)
        self.exited_at = now()
        self.proc = None
        return at

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


async def stand_in_executor(raw: aredis.Redis, bus: Bus) -> None:
    """Answer every intent at once with a PAPER fill on the trades stream."""
    last = "0"
    while True:
        for _stream, entries in await raw.xread({streams.INTENTS: last}, block=100) or []:
            for entry_id, fields in entries:
                last = entry_id.decode()
                i = OrderIntent.model_validate(decode_entry(fields))
                await bus.publish(TradeLogged(
                    intent_id=i.intent_id, user_id=i.user_id, symbol=i.symbol, side=i.side,
                    amount_usd=i.amount_usd, mode=Mode.PAPER, status="filled", source=i.source,
                    correlation_id=i.correlation_id), streams.TRADES)


@pytest.fixture
async def stack(redis_url: str, tmp_path: Path,
                free_port: Callable[[], int]) -> AsyncIterator[dict[str, Any]]:
    cfg = tmp_path / "strategies.yaml"
    cfg.write_text(CONFIG)
    port = free_port()
    env = {**os.environ, "PIGGY_REDIS_URL": redis_url, "PIGGY_STRATEGY_FILE": str(cfg),
           "PIGGY_TICK_INTERVAL_S": "0.1", "PIGGY_HEALTH_PORT": str(port), "PIGGY_LOG_LEVEL": "INFO"}
    service = Service(env, tmp_path / "strategy.log", port)
    bus = Bus(redis_url, "test-stand-in")
    await bus.broker.connect()
    raw = aredis.from_url(redis_url)
    responder = asyncio.create_task(stand_in_executor(raw, bus))
    try:
        yield {"service": service, "bus": bus, "raw": raw, "config": cfg, "redis_url": redis_url}
    finally:
        service.kill_if_running()
        responder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await responder
        await raw.aclose()
        await bus.stop()


async def all_intents(raw: aredis.Redis) -> list[OrderIntent]:
    return [OrderIntent.model_validate(decode_entry(f)) for _, f in await raw.xrange(streams.INTENTS)]


async def test_dca_one_intent_per_period_across_restarts_and_crossover_live_equals_backtest(
        stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    service: Service = stack["service"]
    raw: aredis.Redis = stack["raw"]
    up: list[tuple[datetime, datetime]] = []  # healthy → signalled: every period due is sent
    alive: list[tuple[datetime, datetime]] = []  # spawned → exited: no period outside these

    async def run_for(seconds: float, sig: int) -> None:
        spawned = await service.start()
        await asyncio.sleep(seconds)
        signalled = await service.stop(sig)
        up.append((service.healthy_at, signalled))
        alive.append((spawned, service.exited_at))

    await run_for(3, signal.SIGTERM)
    await asyncio.sleep(1.5)

    start = await service.start()
    healthy = service.healthy_at
    series = bt.generated_series("ETH/USDT", points=40, period=20, step_s=1.0, start=now())
    for ticker in series:  # the same series, as Ticker events on the stream
        await stack["bus"].publish(ticker, streams.TICKERS)
    await asyncio.sleep(3)
    up.append((healthy, await service.stop(signal.SIGKILL)))
    alive.append((start, service.exited_at))
    await asyncio.sleep(1.5)

    await run_for(3, signal.SIGTERM)

    intents = await all_intents(raw)
    dca = [i for i in intents if i.source == "strategy:pig"]
    counts = Counter(i.intent_id for i in dca)
    assert all(c == 1 for c in counts.values()), f"duplicates: {counts.most_common(3)}"
    periods = sorted(int(i.intent_id.rsplit(":", 1)[1]) for i in dca)
    assert all(i.amount_usd == Decimal("2.5") and i.user_id == "alice" for i in dca)

    anchor = datetime.fromisoformat(
        decode_json(await raw.hget("piggy:strategy:pig:state", "state"))["anchor"])
    margin = timedelta(seconds=0.4)
    due = [n for n in range(periods[-1] + 2)
           if any(s + margin <= anchor + timedelta(seconds=n) <= e - margin for s, e in up)]
    missed = sorted(set(due) - set(periods))
    assert not missed, f"periods missed while running: {missed}; got {periods}; up {up}"
    overlapping = [n for n in periods if any(
        anchor + timedelta(seconds=n) <= e and anchor + timedelta(seconds=n + 1) >= s for s, e in alive)]
    assert overlapping == periods, "an intent for a period the service was down for"
    assert len(periods) >= 6

    live = [(i.intent_id, i.side, i.amount_usd) for i in intents if i.source == "strategy:xo"]
    xo = [c for c in load(stack["config"], {}) if c.name == "xo"]
    expected = [(d.intent_id, d.side, d.amount_usd) for _, d in bt.run(xo, series).intents]
    assert len(expected) >= 2 and live == expected

    monkeypatch.setenv("PIGGY_REDIS_URL", stack["redis_url"])

    def cli(*args: str) -> Any:  # the CLI runs its own event loop: call it from a thread
        return asyncio.to_thread(CliRunner().invoke, strategy_cli, list(args))

    listed = await cli("list")
    assert listed.exit_code == 0, listed.output
    assert "pig" in listed.output and "xo" in listed.output and "running" in listed.output
    status = await cli("status", "pig")
    assert status.exit_code == 0 and "next_due" in status.output and "spent" in status.output
    assert (await cli("stop", "xo")).exit_code == 0
    assert await raw.get("piggy:strategy:xo:control") == b"stop"
    assert (await cli("start", "nope")).exit_code == 1


def decode_json(raw: bytes | None) -> dict[str, Any]:
    assert raw is not None
    return json.loads(raw)
