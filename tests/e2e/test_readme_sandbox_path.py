"""The README's "Going live against the sandbox" block, run as written.

The first line (``ALLOW_LIVE=1 .venv/bin/piggy up &``) starts the real stack in its own shell;
every other line runs in a second shell whose environment holds only ``PATH`` and ``HOME``
(so the state folder is the default one under that HOME), once per exchange (the block's
``--exchange binanceus`` swapped for kraken and coinbase). The only addition to the README
is in the first shell: free ports (``PIGGY_*_PORT``: a shared machine has no fixed port to
spare) and ``PIGGY_METRICS_TOKEN``; the second shell learns all of it from the state folder.

With that one stack running this also checks what least privilege promises: Redis's default
user is refused; no child's environment or command line holds another service's secret (each
child's ``/proc/<pid>/environ`` and ``cmdline`` against every Redis password, the operator's,
the vault master key and the API token); /metrics asks for its token, /healthz does not; the
API's /docs are served, the internal services serve none.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from piggy import stackfile
from sandbox.admin import SandboxAdmin
from tests.support.redis_server import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXCHANGES = ("binanceus", "kraken", "coinbase")
PORTS = ("REDIS", "SANDBOX", "API", "EXECUTOR", "CREDENTIALS", "STRATEGY", "NOTIFIER", "DASHBOARD")
SERVICES = ("gateway", "executor", "credentials", "strategy", "notifier")


def readme_block() -> list[str]:
    """The command lines of the README's "Going live against the sandbox" bash block."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Going live against the sandbox"):]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "no bash block in the README's sandbox section"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def _shell(line: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    first = readme_block()[0]
    assert first.split("#")[0].strip().endswith("piggy up &"), first
    home = tmp_path_factory.mktemp("user")
    clean = {"PATH": os.environ["PATH"], "HOME": str(home)}
    ports = {name: free_port() for name in PORTS}
    metrics_token = "metrics-" + os.urandom(12).hex()
    shell1 = clean | {f"PIGGY_{n}_PORT": str(p) for n, p in ports.items()} | {
        "PIGGY_METRICS_TOKEN": metrics_token, "PIGGY_HEARTBEAT_MAX_AGE_S": "10"}
    log = (home / "piggy-up.log").open("w")
    up = subprocess.Popen(["bash", "-c", first.split("#")[0].strip().removesuffix("&")], cwd=REPO,
                          env=shell1, stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, start_new_session=True)
    state = home / ".local" / "share" / "cryptopiggy"
    try:
        deadline = time.monotonic() + 180
        while stackfile.read(state) is None:
            assert up.poll() is None, (home / "piggy-up.log").read_text()
            assert time.monotonic() < deadline, (home / "piggy-up.log").read_text()
            time.sleep(0.2)
        yield {"clean": clean, "state": state, "ports": ports, "up": up,
               "metrics_token": metrics_token, "log": home / "piggy-up.log"}
    finally:
        os.killpg(up.pid, signal.SIGTERM)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait(10)
        log.close()


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_the_readme_block_runs_as_written_from_a_second_shell(stack: dict, exchange: str) -> None:
    info = stackfile.read(stack["state"])
    assert info is not None
    venue = SandboxAdmin(info.exchange_urls[f"PIGGY_{exchange.upper()}_URL"])
    before = len(venue.orders())
    for line in readme_block()[1:]:
        command = line.replace("--exchange binanceus", f"--exchange {exchange}")
        done = _shell(command, stack["clean"])
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        if " test-buy " in command:
            assert "LIVE" in done.stdout, f"{command}\n{done.stdout}"
    assert len(venue.orders()) - before == 2  # the two test buys, each one LIVE order


def _children(up: subprocess.Popen[bytes]) -> dict[str, psutil.Process]:
    found = {}
    for proc in psutil.Process(up.pid).children(recursive=True):
        cmdline = proc.cmdline()
        if "redis-server" in " ".join(cmdline[:1]):
            found["redis"] = proc
        elif "-m" in cmdline:
            module = cmdline[cmdline.index("-m") + 1]
            found[module.removeprefix("services.")] = proc
    return found


def test_each_child_holds_only_its_own_secrets(stack: dict) -> None:
    children = _children(stack["up"])
    assert set(children) >= {"redis", "sandbox", *SERVICES}, set(children)
    environ = {name: dict(line.split("=", 1) for line in
                          Path(f"/proc/{p.pid}/environ").read_text().split("\0") if "=" in line)
               for name, p in children.items()}
    cmdlines = {name: Path(f"/proc/{p.pid}/cmdline").read_text() for name, p in children.items()}
    state: Path = stack["state"]
    passwords = {name: environ[name]["PIGGY_REDIS_PASSWORD"] for name in (*SERVICES, "books")
                 if name in environ}
    assert all(environ[name]["PIGGY_REDIS_USERNAME"] == name for name in SERVICES)
    secrets = {f"redis password of {n}": p for n, p in passwords.items()} | {
        "operator's redis password": (state / "redis-operator-password").read_text().strip(),
        "vault master key": (state / "master.key").read_text().strip(),
        "API token": (state / "api-token").read_text().strip()}
    own = {name: {f"redis password of {name}"} for name in SERVICES} | {
        "gateway": {"redis password of gateway", "vault master key"},
        "credentials": {"redis password of credentials", "vault master key"},
        "books": {"redis password of books", "vault master key"}}  # its reconciler reads exchanges
    found = []
    for name in children:
        text = cmdlines[name] + "\0".join(f"{k}={v}" for k, v in environ[name].items())
        found += [f"{name} holds the {what}" for what, value in secrets.items()
                  if value in text and what not in own.get(name, set())]
    assert found == []
    assert "PIGGY_MASTER_KEY" in environ["gateway"] and "PIGGY_MASTER_KEY" in environ["credentials"]
    for name in ("executor", "strategy", "notifier", "dashboard", "sandbox"):
        assert not {"PIGGY_MASTER_KEY", "PIGGY_API_TOKEN"} & set(environ.get(name, {})), name
    assert "ALLOW_LIVE" in environ["executor"] and "ALLOW_LIVE" not in environ["strategy"]


def test_redis_refuses_the_default_user_and_metrics_ask_for_their_token(stack: dict) -> None:
    ports = stack["ports"]
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=ports["REDIS"]).ping()
    executor = f"http://127.0.0.1:{ports['EXECUTOR']}"
    api = f"http://127.0.0.1:{ports['API']}"
    with httpx.Client(timeout=10, trust_env=False) as http:
        assert http.get(f"{executor}/healthz").status_code == 200
        assert http.get(f"{executor}/metrics").status_code == 401
        assert http.get(f"{api}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        scraped = http.get(f"{executor}/metrics",
                           headers={"Authorization": f"Bearer {stack['metrics_token']}"})
        assert scraped.status_code == 200 and "piggy_decisions_total" in scraped.text
        assert http.get(f"{api}/docs").status_code == 200  # the API's own documentation
        assert http.get(f"{api}/openapi.json").status_code == 200
        for port in ("EXECUTOR", "CREDENTIALS", "STRATEGY", "NOTIFIER"):
            base = f"http://127.0.0.1:{ports[port]}"
            assert [http.get(base + p).status_code for p in ("/docs", "/redoc", "/openapi.json")] \
                == [404, 404, 404], port
    log = stack["log"].read_text()
    assert "WARNING" not in log and "ACL users from its ACL file" in log
