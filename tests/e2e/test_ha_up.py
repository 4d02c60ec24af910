"""`piggy up --ha` as an operator runs it: a primary, a replica and three sentinels under the
state folder, every service (as its own ACL user) on the primary the sentinels name; `piggy
redis failover` moves the primary and a $2 test buy goes through before and after, from a
second shell with no extra environment but the state folder and the operator's login."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from piggy.ha_redis import HaPorts
from piggy.ports import is_free
from tests.support.cli import clean_env, ports_env, run_piggy
from tests.support.redis_server import free_port, pid_alive
from tests.support.stack import free_ports

pytestmark = pytest.mark.e2e


def _ha_base_port() -> int:
    """A PIGGY_REDIS_PORT whose HA neighbours (+1, +10000..+10002) are free too."""
    for _ in range(200):
        port = free_port()
        if port + 10_002 < 65_536 and all(is_free(p) for _n, p in HaPorts.from_redis_port(port).all()):
            return port
    raise RuntimeError("no free port block for the HA Redis")


def _wait_for(proc: subprocess.Popen[str], text: str, timeout: float) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"no {text!r} within {timeout:g}s:\n{seen}")


def test_up_ha_trades_a_test_buy_before_and_after_a_failover(tmp_path: Path) -> None:
    home = tmp_path / "state"
    ports = free_ports()
    env = clean_env(tmp_path / "h", PIGGY_HOME=str(home), PIGGY_REDIS_ACL="1",
                    PIGGY_START_TIMEOUT_S="120",
                    **(ports_env(ports) | {"PIGGY_REDIS_PORT": str(_ha_base_port())}))
    up = subprocess.Popen([sys.executable, "-m", "piggy.cli", "up", "--ha"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        started = _wait_for(up, "running; Ctrl-C stops everything", 180)
        assert "sentinel-3" in started and "HA: primary, replica and 3 sentinels" in started
        cli = env | {"PIGGY_REDIS_USERNAME": "operator",
                     "PIGGY_REDIS_PASSWORD": (home / "redis-operator-password").read_text()}
        status = run_piggy(cli, "redis", "status")
        assert status.returncode == 0, status.stderr
        assert "1 replica(s), 3 sentinel(s)" in status.stdout, status.stdout
        before = run_piggy(cli, "test-buy", "--usd", "2", "--user", "ha", "--json", timeout=120)
        assert before.returncode == 0, before.stderr
        moved = run_piggy(cli, "redis", "failover", timeout=60)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        assert "new primary" in moved.stdout and "now replicates" in moved.stdout
        after = run_piggy(cli, "test-buy", "--usd", "2", "--user", "ha", "--json", timeout=120)
        assert after.returncode == 0, after.stdout + after.stderr
        trades = run_piggy(cli, "trades", "--user", "ha", "--json")
        ids = {t["intent_id"] for t in json.loads(trades.stdout)}
        for bought in (before, after):
            assert json.loads(bought.stdout)["intent"]["intent_id"] in ids
        secret = (home / "redis-operator-password").read_text()
        printed = status.stdout + moved.stdout + before.stdout + after.stdout + trades.stdout
        assert secret not in printed + started
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        up.wait(60)
    assert not pid_alive(up.pid)
