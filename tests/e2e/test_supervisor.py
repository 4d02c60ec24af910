"""The supervisor with real processes: Redis killed and brought back with its AOF, a hung
child restarted, a crash loop backed off and given up, logs capped by rotation."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from piggy import ops
from piggy.child import Child
from piggy.stack import Stack
from piggy.supervision import RestartPolicy, RestartTracker
from shared import streams
from shared.bus import decode_entry
from shared.settings import StackSettings
from tests.support.redis_server import free_port
from tests.support.stack import free_ports

pytestmark = pytest.mark.e2e
PY = sys.executable


def _supervise_until(stack: Stack, done, timeout: float = 60.0) -> list[str]:  # type: ignore[no-untyped-def]
    reports: list[str] = []
    deadline = time.monotonic() + timeout
    while not done(reports):
        assert time.monotonic() < deadline, "\n".join(reports) or "no reports"
        reports += stack.supervise_once()
        time.sleep(0.1)
    return reports


def test_redis_killed_is_reported_and_restarted_with_its_aof_and_services_reconnect(tmp_path: Path) -> None:
    stack = Stack(home=tmp_path, ports=free_ports(), say=lambda _m: None,  # a paper fill needs a price
                  without=frozenset({"dashboard", "strategy", "credentials"}),
                  settings=StackSettings(restart_backoff_s=0.2))
    try:
        stack.start(timeout=90)
        assert stack.redis_child is not None and stack.redis_child.proc is not None
        services = {c.name: c.proc.pid for c in stack.children if c.proc is not None}
        with redis.Redis.from_url(stack.redis_url or "") as r:
            r.set("piggy:test:kept", "yes")
        time.sleep(1.5)  # appendfsync everysec: the write is on disk after a second
        old = stack.redis_child.proc.pid
        os.kill(old, signal.SIGKILL)

        reports = _supervise_until(stack, lambda rs: any(r.startswith("redis restarted") for r in rs))
        assert any(r.startswith("redis died (exit -9); restarting in 0.2s") for r in reports), reports
        assert stack.redis_child.proc.pid != old
        with redis.Redis.from_url(stack.redis_url or "") as r:
            assert r.get("piggy:test:kept") == b"yes"  # the AOF came back with it
            notices = [decode_entry(f) for _i, f in r.xrange(streams.CONTROL)]
        assert any(n.get("type") == "ServiceRestarted" and n.get("service") == "redis"
                   and n.get("exit_code") == -9 for n in notices), notices  # for the notifier

        # the services reconnect on their own (same pids) and a test buy goes through them
        _intent, line = asyncio.run(ops.test_buy(stack.redis_url or "", user_id="after-kill",
                                                 symbol="BTC/USDT", usd=Decimal(2), exchange="binanceus",
                                                 timeout_s=30))
        assert line is not None and line.mode.value == "PAPER"
        for child in stack.children:
            assert child.healthy() == (True, "ok"), child.name
        assert {c.name: c.proc.pid for c in stack.children if c.proc is not None} == services
    finally:
        stack.stop()


def _stack_of(tmp_path: Path, *children: Child) -> Stack:
    return Stack(home=tmp_path, say=lambda _m: None, children=list(children))


def test_a_hung_child_is_stopped_and_restarted(tmp_path: Path) -> None:
    policy = RestartPolicy(backoff_s=0.1, hung_after_s=1.0)
    hung = Child("hung", [PY, "-c", "import time; time.sleep(600)"],
                 f"http://127.0.0.1:{free_port()}/healthz", dict(os.environ), tmp_path / "hung.log",
                 tracker=RestartTracker(policy))
    stack = _stack_of(tmp_path, hung)
    hung.start()
    assert hung.proc is not None
    first = hung.proc
    try:
        reports = _supervise_until(stack, lambda rs: any(r.startswith("hung restarted") for r in rs))
        assert any(r.startswith("hung unhealthy for 1s (no answer at") and "stopped; restarting in 0.1s" in r
                   for r in reports), reports
        assert first.poll() is not None and hung.alive and hung.proc.pid != first.pid
    finally:
        hung.stop()


def test_a_crash_loop_backs_off_then_is_given_up_within_the_budget(tmp_path: Path) -> None:
    policy = RestartPolicy(backoff_s=0.1, budget=3, window_s=60.0)
    crash = Child("crash", [PY, "-c", "import sys; print('boom'); sys.exit(3)"], "", dict(os.environ),
                  tmp_path / "crash.log", tracker=RestartTracker(policy))
    stack = _stack_of(tmp_path, crash)
    crash.start()
    reports = _supervise_until(stack, lambda _rs: crash.given_up, timeout=30)
    died = [r for r in reports if r.startswith("crash died (exit 3)")]
    assert [d.split(";")[1].split("(")[0].strip() for d in died] == [
        "restarting in 0.1s", "restarting in 0.2s", "restarting in 0.4s", "3 restarts in the last 60s"]
    assert "not restarting" in died[-1] and "boom" in died[-1]  # with the end of its log
    assert len([r for r in reports if r.startswith("crash restarted")]) == 3


def test_child_logs_are_capped_by_rotation(tmp_path: Path) -> None:
    script = "for i in range(40000): print(f'line {i:06d} ' + 'x' * 60)"
    chatty = Child("chatty", [PY, "-c", script], "", dict(os.environ), tmp_path / "logs" / "chatty.log",
                   log_max_bytes=200_000, log_backups=3)
    chatty.start()
    assert chatty.proc is not None and chatty.proc.wait(60) == 0
    chatty.logs_flushed()
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["chatty.log", "chatty.log.1", "chatty.log.2", "chatty.log.3"]
    assert all((tmp_path / "logs" / f).stat().st_size <= 200_000 for f in files)
    assert chatty.log_tail(1) == "line 039999 " + "x" * 60  # the newest lines are in <name>.log
