"""Every service exits within 5 s of SIGTERM, on a machine kept busy by CPU burners.

The whole stack runs (a DCA strategy ticking, the dashboard too); three busy-loop processes
load the CPUs; every child gets SIGTERM at the same moment, as `piggy up` does on Ctrl-C.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.stack import running_stack

pytestmark = pytest.mark.e2e
BOUND_S = 5.0
STRATEGIES = """
strategies:
  - {name: pig, kind: dca, user_id: alice, symbol: BTC/USDT, amount_usd: "2", interval_s: 1,
     budget_usd: "1000"}
"""


def test_every_service_exits_within_5s_of_sigterm_under_load(redis_url: str, tmp_path: Path) -> None:
    strategies = tmp_path / "strategies.yaml"
    strategies.write_text(STRATEGIES)
    env = {"PIGGY_STRATEGY_FILE": str(strategies), "PIGGY_TICK_INTERVAL_S": "0.1"}
    burners: list[subprocess.Popen[bytes]] = []
    with running_stack(tmp_path, redis_url, env) as stack:
        try:
            burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(3)]
            time.sleep(2.0)  # the services work under load for a while before the signal
            procs = {c.name: c.proc for c in stack.children if c.proc is not None}
            assert all(p.poll() is None for p in procs.values())
            sent = time.monotonic()
            for proc in procs.values():
                proc.send_signal(signal.SIGTERM)
            exited: dict[str, float] = {}
            while len(exited) < len(procs) and time.monotonic() - sent < BOUND_S + 5:
                for name, proc in procs.items():
                    if name not in exited and proc.poll() is not None:
                        exited[name] = time.monotonic() - sent
                time.sleep(0.02)
            print({n: round(s, 2) for n, s in exited.items()})
            slow = {n: exited.get(n) for n in procs if exited.get(n, BOUND_S + 1) > BOUND_S}
            assert not slow, f"not gone within {BOUND_S:g}s of SIGTERM: {slow}; all: {exited}"
        finally:
            for burner in burners:
                burner.kill()
                burner.wait(10)
