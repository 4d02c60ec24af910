"""The scaled deployment, run from docker-compose.yml itself (`make container-test`).

`docker-compose config` validates the file and gives the services, environment and
healthchecks; `docker-compose up` runs exactly those containers from the locally built images
(`make image`): Redis, the sandbox exchange, two gateways, two executors, the credentials and
the strategy service, all with host networking on free loopback ports. Through the second
gateway's HTTP API a funded sandbox key is saved and validated, live trading is armed, and a
$2 buy goes out through the first gateway's API; the sandbox's admin API (ground truth) then
holds exactly one order, the one the trade log names. Redis runs with the ACL users the test
generates (passwords + users.acl, as `make users.acl` does): each service logs in as its own
user, the default user is off, and a service's user can't write where its row does not allow.

Needs Docker (DOCKER_HOST), docker-compose and the images; `make container-test` provides
them and sets PIGGY_CONTAINER_TEST=1. Skipped otherwise.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from sandbox import SandboxAdmin
from shared import redis_acl, streams
from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

pytestmark = [
    pytest.mark.container,
    pytest.mark.timeout(1500),  # image-sized copies per container with the vfs storage driver
    pytest.mark.skipif(os.environ.get("PIGGY_CONTAINER_TEST") != "1",
                       reason="the container deployment runs in `make container-test`"),
]

# What `docker-compose up` starts (the dashboard is in the `dashboard` profile).
SERVICES = {"redis", "sandbox", "gateway", "gateway-2", "executor", "executor-2", "credentials",
            "strategy", "notifier", "books"}
PORTS = ["REDIS", "SANDBOX", "GATEWAY", "GATEWAY_2", "EXECUTOR", "EXECUTOR_2", "CREDENTIALS",
         "STRATEGY", "NOTIFIER", "BOOKS", "DASHBOARD"]
HEALTHY_WITHIN_S = 900  # starting 8 Python services takes minutes on a loaded 2-core machine
USER = "ctest"


def run(cmd: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False, stdin=subprocess.DEVNULL, cwd=ROOT)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed (apt-get install docker-compose)")
    ports = {name: free_port() for name in PORTS}
    token = secrets.token_urlsafe(24)
    passwords = {n: secrets.token_urlsafe(18) for n in (*redis_acl.SERVICES, redis_acl.OPERATOR)}
    acl = tmp_path_factory.mktemp("acl") / "users.acl"
    acl.write_text(redis_acl.acl_file(redis_acl.users(passwords)))
    acl.chmod(0o600)
    env = dict(os.environ) | {f"PIGGY_PORT_{name}": str(port) for name, port in ports.items()} | {
        redis_acl.password_variable(name): password for name, password in passwords.items()} | {
        "PIGGY_REDIS_ACL_FILE": str(acl),
        "PIGGY_MASTER_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "PIGGY_API_TOKEN": token,
        "PIGGY_BINANCEUS_URL": f"http://127.0.0.1:{ports['SANDBOX']}",
        "ALLOW_LIVE": "1",
        # Creating a container copies the whole image with the vfs storage driver: slow on a
        # loaded machine. (COMPOSE_PARALLEL_LIMIT below the number of services deadlocks
        # docker-compose 1.29's `up` with depends_on: not set.)
        "COMPOSE_HTTP_TIMEOUT": "900",
    }
    compose = ["docker-compose", "-p", f"piggyct{os.getpid()}", "-f", str(COMPOSE_FILE)]
    config = yaml.safe_load(run([*compose, "config"], env).stdout)
    try:
        run([*compose, "up", "-d"], env, timeout=900)
        yield {"config": config, "ports": ports, "token": token, "env": env, "compose": compose,
               "passwords": passwords}
    except BaseException:
        logs = subprocess.run([*compose, "logs", "--no-color", "--tail", "30"], env=env,
                              capture_output=True, text=True, check=False, cwd=ROOT)
        print(logs.stdout[-20000:])
        raise
    finally:
        subprocess.run([*compose, "down", "-v", "--timeout", "10"], env=env, capture_output=True,
                       check=False, cwd=ROOT, timeout=900)
        # A create still running in the engine when `up` gave up is not seen by `down`.
        project = compose[2]
        for kind in ("container", "volume"):
            left = subprocess.run(
                ["docker", kind, "ls", "-q", *(["-a"] if kind == "container" else []),
                 "--filter", f"label=com.docker.compose.project={project}"],
                env=env, capture_output=True, text=True, check=False).stdout.split()
            if left:
                subprocess.run(["docker", kind, "rm", "-f", *left], env=env, capture_output=True,
                               check=False, timeout=900)


def container_health(compose: list[str], env: dict[str, str]) -> dict[str, str]:
    ids = run([*compose, "ps", "-q"], env).stdout.split()
    fmt = ('{{index .Config.Labels "com.docker.compose.service"}} '
           "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}")
    out = run(["docker", "inspect", "-f", fmt, *ids], env).stdout if ids else ""
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def wait_healthy(compose: list[str], env: dict[str, str]) -> dict[str, str]:
    deadline = time.monotonic() + HEALTHY_WITHIN_S
    health: dict[str, str] = {}
    while time.monotonic() < deadline:
        health = container_health(compose, env)
        if set(health) == SERVICES and all(v == "healthy" for v in health.values()):
            return health
        time.sleep(2)
    raise AssertionError(f"not every service became healthy within {HEALTHY_WITHIN_S}s: {health}")


def test_compose_file_is_valid_and_is_what_the_test_runs(deployment: dict[str, Any]) -> None:
    """The compose file's own services, with host networking, healthchecks and shared env."""
    services = deployment["config"]["services"]
    default = {name for name, svc in services.items() if not svc.get("profiles")}
    assert default == SERVICES
    for name, svc in services.items():
        assert svc.get("network_mode") == "host", name
        assert svc.get("healthcheck", {}).get("test", [None])[0] == "CMD", name
    assert "--aclfile" in services["redis"]["command"]
    for name in SERVICES - {"redis", "sandbox"}:
        svc_env = services[name]["environment"]
        user = name.removesuffix("-2")  # each replica logs in as its service's ACL user
        assert svc_env["PIGGY_REDIS_USERNAME"] == user
        assert svc_env["PIGGY_REDIS_PASSWORD"] == deployment["passwords"][user]
        assert svc_env["PIGGY_REDIS_URL"] == f"redis://127.0.0.1:{deployment['ports']['REDIS']}/0"
        assert svc_env["PIGGY_BINANCEUS_URL"] == deployment["env"]["PIGGY_BINANCEUS_URL"]
    assert services["strategy"]["environment"]["PIGGY_STRATEGY_FILE"]
    running = wait_healthy(deployment["compose"], deployment["env"])
    assert set(running) == SERVICES


def test_redis_in_the_deployment_lets_each_service_only_what_its_row_allows(
        deployment: dict[str, Any]) -> None:
    wait_healthy(deployment["compose"], deployment["env"])
    port, passwords = deployment["ports"]["REDIS"], deployment["passwords"]

    def login(user: str | None = None) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, username=user,
                           password=passwords[user] if user else None, socket_timeout=10)

    with login() as anonymous, pytest.raises(redis.AuthenticationError):
        anonymous.ping()  # the password-less default user is off
    with login("strategy") as strategy:
        assert strategy.ping()
        with pytest.raises(redis.exceptions.NoPermissionError):
            strategy.xadd(streams.ORDER_REQUESTS, {"__data__": "{}"})  # only the executor may
    with login(redis_acl.OPERATOR) as operator:
        assert operator.xlen(streams.HEALTH) > 0  # the services write as their own users


def test_live_two_dollar_buy_through_the_gateway_container_makes_exactly_one_order(
        deployment: dict[str, Any]) -> None:
    wait_healthy(deployment["compose"], deployment["env"])
    ports, headers = deployment["ports"], {"Authorization": f"Bearer {deployment['token']}"}
    admin = SandboxAdmin(f"http://127.0.0.1:{ports['SANDBOX']}")
    key = admin.create_key(can_trade=True, balances={"USDT": "1000"})
    api_2 = httpx.Client(base_url=f"http://127.0.0.1:{ports['GATEWAY_2']}", headers=headers,
                         timeout=30)
    api_1 = httpx.Client(base_url=f"http://127.0.0.1:{ports['GATEWAY']}", headers=headers,
                         timeout=30)
    saved = api_2.post("/api/credentials", json={"userId": USER, "exchange": "binanceus",
                                                  "apiKey": key["api_key"],
                                                  "apiSecret": key["secret"]}).json()
    assert saved.get("status") == "validated", saved
    armed: dict[str, Any] = {}
    for _ in range(30):  # the heartbeat gate opens once a gateway has beaten
        armed = api_2.post("/api/live/arm", json={"userId": USER}).json()
        if armed.get("armed"):
            break
        time.sleep(1)
    assert armed.get("armed"), armed

    bought = api_1.post("/api/trade", json={"userId": USER, "symbol": "BTC/USDT",
                                            "amountUsd": "2"}).json()
    assert bought["mode"] == "LIVE" and bought["ok"] and bought["orderId"], bought

    orders = admin.orders(api_key=key["api_key"])
    assert len(orders) == 1, orders
    assert str(orders[0]["orderId"]) == str(bought["orderId"])
    lines: list[dict[str, Any]] = []
    for _ in range(30):  # the history is the books' journal: the line lands there within moments
        lines = api_1.get("/api/trades", params={"userId": USER}).json()
        if lines:
            break
        time.sleep(0.5)
    assert [(ln["mode"], ln["order_id"]) for ln in lines] == [("LIVE", bought["orderId"])]
    assert key["secret"] not in str(lines) + str(saved) + str(armed) + str(bought)
    # The strategy container runs the compose file's strategies: the DCA piggy bank's first
    # buy for `demo` (no keys, not armed) is never LIVE: filled in PAPER mode at the exchange's
    # price, or rejected with its reasons when no price is known yet; either way no order.
    dca: list[dict[str, Any]] = []
    for _ in range(60):
        dca = [ln for ln in api_1.get("/api/trades", params={"userId": "demo"}).json()
               if ln["source"] == "strategy:piggy"]
        if dca:
            break
        time.sleep(1)
    assert dca and dca[0]["mode"] in ("PAPER", "NONE"), dca
    assert dca[0]["mode"] == "PAPER" or dca[0]["reasons"], dca
    assert len(admin.orders()) == 1

    logs = run([*deployment["compose"], "logs", "--no-color"], deployment["env"]).stdout
    assert "Uvicorn running" in logs or "Application startup complete" in logs
    for secret in (key["secret"], deployment["token"], deployment["env"]["PIGGY_MASTER_KEY"]):
        assert secret not in logs, "a secret is in the containers' logs"
