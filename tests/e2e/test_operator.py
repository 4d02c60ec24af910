"""The operator's paper cuts (issue 16), each reproduced with the real CLI and processes.

A second stack can't take the first one's answers for its own; ports come from the
environment or piggy.toml and are honoured; the state folder does not depend on the working
directory; piped output is not wrapped; errors are one line on stderr with a documented exit
code.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from piggy.child import Child
from piggy.stack import Ports
from shared.config_file import default_home
from tests.support.cli import clean_env, ports_env, run_piggy
from tests.support.redis_server import free_port
from tests.support.stack import free_ports, piggy, running_stack

pytestmark = pytest.mark.e2e


def _one_error_line(result, code: int) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_second_up_while_the_ports_are_held_names_the_port_and_never_claims_health(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path / "first", redis_url) as first:
        redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        held = Ports(redis=redis_port, sandbox=first.ports.sandbox, api=first.ports.api,
                     executor=first.ports.executor, credentials=first.ports.credentials,
                     strategy=first.ports.strategy, dashboard=first.ports.dashboard)
        env = clean_env(tmp_path / "h", PIGGY_HOME=str(tmp_path / "second"), **ports_env(held))
        second = run_piggy(env, "up", "--once", timeout=120)
        line = _one_error_line(second, 1)
        gateway = next(c for c in first.children if c.name == "gateway")
        assert gateway.proc is not None
        assert f"port {first.ports.api} (gateway) is in use by pid {gateway.proc.pid}" in line
        assert f"port {redis_port} (redis) is in use by pid" in line and "redis-server" in line
        assert "PIGGY_API_PORT" in line
        assert "healthy" not in second.stdout and "started" not in second.stdout
        assert "stopped" not in second.stdout  # nothing was started, so nothing to stop
        assert not (tmp_path / "second" / "api-token").exists()

        # and a child is healthy only when *it* answers: the first stack's executor is not ours
        executor = next(c for c in first.children if c.name == "executor")
        impostor = Child("executor", ["true"], executor.health_url, {}, tmp_path / "x.log",
                         check_instance=True, instance_id="executor-ours")
        impostor.proc = executor.proc  # alive, so only the probe decides
        ok, why = impostor.healthy()
        assert not ok and "another process holds the port" in why


def test_up_honours_the_dashboard_port_from_the_environment_and_ports_from_the_file(
        tmp_path: Path) -> None:
    ports = free_ports()
    config = tmp_path / "conf" / "piggy.toml"
    config.parent.mkdir()
    config.write_text("\n".join(f"{k.removeprefix('PIGGY_').lower()} = {v}"
                                for k, v in ports_env(ports).items() if k != "PIGGY_DASHBOARD_PORT"))
    dashboard = free_port()
    env = clean_env(tmp_path / "h", PIGGY_HOME=str(tmp_path / "state"), PIGGY_DASHBOARD_PORT=str(dashboard))
    result = run_piggy(env, "--config", str(config), "up", "--once", timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert f"dashboard   healthy at http://127.0.0.1:{dashboard}/_stcore/health" in out
    assert f"gateway     healthy at http://127.0.0.1:{ports.api}/healthz" in out
    assert f"at redis://127.0.0.1:{ports.redis}/0" in out and "8501" not in out
    assert "all healthy" in out
    logs = {p.name for p in (tmp_path / "state" / "logs").iterdir()}
    assert {"redis.log", "gateway.log", "executor.log", "dashboard.log"} <= logs


def test_the_state_folder_is_the_same_from_any_working_directory(redis_url: str, tmp_path: Path) -> None:
    user_home = tmp_path / "h"
    state = default_home({"HOME": str(user_home)})
    with running_stack(state, redis_url) as stack:
        env = clean_env(user_home, PIGGY_API_PORT=str(stack.ports.api))  # no PIGGY_HOME
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        for cwd in (elsewhere, Path("/")):
            status = run_piggy(env, "live", "status", "--user", "me", "--json", cwd=cwd)
            assert status.returncode == 0, status.stderr
            body = json.loads(status.stdout)
            assert body["user_id"] == "me" and body["armed"] is False and body["gates"]


def test_trades_piped_are_one_line_each_and_json_is_data_only(redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url) as stack:  # a paper fill needs the exchange's price
        bought = piggy(stack, "test-buy", "--usd", "2", "--user", "pipe-user", "--json")
        assert bought.returncode == 0, bought.stderr
        intent_id = json.loads(bought.stdout)["intent"]["intent_id"]
        env = {k: v for k, v in stack.env().items() if k != "COLUMNS"}
        listed = run_piggy(env, "trades", "--user", "pipe-user")  # stdout is a pipe, like `| cat`
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert lines[0].split("\t")[:3] == ["time", "mode", "status"]
        row = next(ln for ln in lines if intent_id in ln).split("\t")
        assert row[1:6] == ["PAPER", "filled", "pipe-user", "binanceus", "BTC/USDT"]
        assert len(row) == len(lines[0].split("\t"))
        assert len(lines) == 2  # header + the one trade: nothing wrapped onto extra lines


@pytest.mark.parametrize(("name", "args", "extra", "code", "says"), [
    ("json with Redis down", ["strategy", "list", "--json"], {"PIGGY_REDIS_URL": "redis://127.0.0.1:{free}/0"}, 1,
     "Redis unreachable at redis://127.0.0.1:"),
    ("up with an unreachable Redis URL", ["up", "--once"], {"PIGGY_REDIS_URL": "redis://127.0.0.1:{free}/0"},
     1, "Redis unreachable at redis://127.0.0.1:"),
    ("up with a malformed Redis URL", ["up", "--once"], {"PIGGY_REDIS_URL": "localhost:6379"}, 2,
     "PIGGY_REDIS_URL must start with redis://, rediss:// (TLS), unix:// or redis+sentinel://"),
    ("up with a placeholder token", ["up", "--once"], {"PIGGY_API_TOKEN": "changeme"}, 2,
     "PIGGY_API_TOKEN is a placeholder"),
    ("live status with a placeholder token", ["live", "status", "--user", "me"],
     {"PIGGY_API_TOKEN": "changeme"}, 2, "PIGGY_API_TOKEN is a placeholder"),
    ("live status without a token", ["live", "status", "--user", "me"], {}, 2, "no API token"),
    ("live status with the API down", ["live", "status", "--user", "me", "--json"],
     {"PIGGY_API_TOKEN": "a-real-token-1234"}, 1, "API unreachable at http://127.0.0.1:"),
    ("sandbox key with the exchange down", ["sandbox-key", "--user", "me"],
     {"PIGGY_BINANCEUS_URL": "http://127.0.0.1:{free}"}, 1, "sandbox exchange unreachable"),
    ("a config file that does not exist", ["config", "show"], {"PIGGY_CONFIG": "/nonexistent/piggy.toml"}, 2,
     "config file /nonexistent/piggy.toml"),
])
def test_common_mistakes_are_one_line_on_stderr_with_the_documented_exit_code(
        tmp_path: Path, name: str, args: list[str], extra: dict[str, str], code: int, says: str) -> None:
    env = clean_env(tmp_path / "h", PIGGY_HOME=str(tmp_path / "state"), **ports_env(free_ports()),
                    **{k: v.format(free=free_port()) for k, v in extra.items()})
    result = run_piggy(env, *args)
    line = _one_error_line(result, code)
    assert says in line, line
    if "--json" in args:  # stdout is still one JSON document: the error, as data
        answer = json.loads(result.stdout)
        assert answer["ok"] is False and answer["exitCode"] == code and says in answer["error"]
    assert "started" not in result.stdout  # checked before anything starts


def test_version_and_exit_codes_are_documented(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    version = run_piggy(env, "--version")
    assert version.returncode == 0 and version.stdout.startswith("piggy 0.")
    helped = run_piggy(env | {"COLUMNS": "200"}, "--help")
    assert "Exit codes: 0 done; 1 failed" in helped.stdout and "3 refused by a rule" in helped.stdout


