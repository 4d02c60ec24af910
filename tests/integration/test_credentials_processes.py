"""Credentials as a user runs them: real service processes, the real ``piggy keys`` CLI.

The gateway and the credentials service run as ``python -m ...`` at DEBUG log level; the
secret is looked for in their whole stderr, in every Redis key and stream entry, and in
everything the CLI printed. Both services are restarted and the key is still validated.
"""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from sandbox import SandboxAdmin, SandboxProcess
from tests.integration.credentials_support import (
    assert_secret_absent_from_redis,
    service_env,
)

pytestmark = pytest.mark.integration


@contextmanager
def service(module: str, env: dict[str, str], log: Path, health_url: str) -> Iterator[None]:
    with log.open("ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=fh, stderr=fh,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"{module} exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(health_url, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{module} not healthy: {log.read_text()[-2000:]}"
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def piggy(env: dict[str, str], *args: str, stdin: str | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "piggy.cli", *args], check=False,
                          env=env | {"COLUMNS": "200"}, input=stdin, capture_output=True, text=True,
                          timeout=60,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


def test_keys_via_cli_against_real_processes_survive_restart_and_never_leak(
        redis_url: str, tmp_path: Path, free_port: Callable[[], int]) -> None:
    api_port, health_port = free_port(), free_port()
    logs = {"gateway": tmp_path / "gateway.log", "credentials": tmp_path / "credentials.log"}
    with SandboxProcess(seed=1) as sb:
        admin = SandboxAdmin(sb.url)
        good, no_trade = admin.create_key(can_trade=True), admin.create_key(can_trade=False)
        env = {**os.environ, **service_env(str(tmp_path / "home"), sb.url),
               "PIGGY_REDIS_URL": redis_url, "PIGGY_API_PORT": str(api_port),
               "PIGGY_HEALTH_PORT": str(health_port), "PIGGY_LOG_LEVEL": "DEBUG",
               "PYTHONUNBUFFERED": "1"}
        env.pop("PIGGY_API_SECRET", None)
        gw_health = f"http://127.0.0.1:{api_port}/api/health"
        cred_health = f"http://127.0.0.1:{health_port}/healthz"
        outputs: list[str] = []

        def run(*args: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
            done = piggy(env | extra, *args, stdin=stdin)
            outputs.extend([done.stdout, done.stderr])
            return done

        with service("services.credentials", env, logs["credentials"], cred_health), \
                service("services.gateway", env, logs["gateway"], gw_health):
            done = run("keys", "set", "--user", "alice", "--exchange", "binanceus",
                       "--api-key", good["api_key"], "--secret-stdin", stdin=good["secret"] + "\n")
            assert done.returncode == 0, done.stdout + done.stderr
            assert "validated" in done.stdout and good["api_key"][:4] in done.stdout
            done = run("keys", "set", "--user", "bob", "--api-key", no_trade["api_key"],
                       PIGGY_API_SECRET=no_trade["secret"])
            assert done.returncode == 3 and "no trading permission" in done.stdout
            resp = httpx.get(f"http://127.0.0.1:{api_port}/api/credentials/alice", timeout=10)
            assert resp.status_code == 401 and good["secret"] not in resp.text

        # both services restarted: same Redis, same master key
        with service("services.credentials", env, logs["credentials"], cred_health), \
                service("services.gateway", env, logs["gateway"], gw_health):
            done = run("keys", "status", "--user", "alice")
            assert done.returncode == 0 and "validated" in done.stdout, done.stdout + done.stderr
            assert "can trade:    yes" in done.stdout
            done = run("keys", "delete", "--user", "alice")
            assert done.returncode == 0 and "binanceus" in done.stdout
            done = run("keys", "status", "--user", "alice")
            assert "revoked" in done.stdout
            done = run("keys", "status", "--user", "nobody")
            assert done.returncode == 1 and "404" in done.stderr

    for name, log in logs.items():
        text = log.read_text()
        assert "DEBUG" in text, f"{name} did not log at DEBUG"
        for secret in (good["secret"], no_trade["secret"]):
            assert secret not in text, f"secret in {name} log"
    for secret in (good["secret"], no_trade["secret"]):
        assert all(secret not in out for out in outputs)
        asyncio.run(assert_secret_absent_from_redis(redis_url, secret))
