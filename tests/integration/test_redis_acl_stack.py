"""The embedded stack locking down a Redis it started: service users created, the default
user off, the operator's generated password kept 0600 for the CLI (a real redis-server)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from piggy.embedded_redis import find_redis_server
from piggy.stack import CHILDREN, Stack
from shared import redis_acl
from tests.support.redis_server import free_port
from tests.support.stack import free_ports

pytestmark = pytest.mark.integration


def test_a_redis_the_stack_started_refuses_the_default_user(tmp_path: Path) -> None:
    said: list[str] = []
    stack = Stack(home=tmp_path, ports=free_ports(), sandbox=False, acl=True,
                  acl_passwords={"gateway": "given-gateway-password-0123"}, say=said.append,
                  without=frozenset(spec.name for spec in CHILDREN))
    try:
        stack.start(timeout=30)  # Redis alone, started with its generated --aclfile
        port = stack.ports.redis
        anonymous = redis.Redis(port=port)
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.ping()
        operator = redis.Redis.from_url(stack.operator_url())
        assert operator.execute_command("ACL", "WHOAMI") == b"operator"
        gateway = redis.Redis(port=port, username="gateway", password="given-gateway-password-0123")
        assert gateway.ping()
        kept = tmp_path / "redis-operator-password"
        assert kept.read_text() == stack.acl_passwords["operator"]
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        env = stack.redis_env("executor")
        assert env["PIGGY_REDIS_USERNAME"] == "executor"
        assert redis.Redis(port=port, username="executor",
                           password=env["PIGGY_REDIS_PASSWORD"]).ping()
        assert set(stack.acl_passwords) == {*redis_acl.SERVICES, redis_acl.OPERATOR}
        assert not any(p in line for p in stack.acl_passwords.values() for line in said)
        for client in (anonymous, operator, gateway):
            client.close()
    finally:
        stack.stop()


def test_make_users_acl_writes_the_compose_env_once_and_redis_loads_the_file(tmp_path: Path) -> None:
    """What `make users.acl` does for docker-compose, then redis-server --aclfile on it."""
    env_file, acl = tmp_path / ".env", tmp_path / "users.acl"
    env_file.write_text("PIGGY_PORT_REDIS=6390\nPIGGY_REDIS_PASSWORD_GATEWAY=kept-gateway-pw-42")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PIGGY_REDIS_PASSWORD")}
    cmd = [sys.executable, "-m", "shared.redis_acl", "--env-file", str(env_file), "--out", str(acl)]
    first = subprocess.run(cmd, env=clean, capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    values = redis_acl.env_file_values(env_file.read_text())
    assert values["PIGGY_PORT_REDIS"] == "6390"  # the user's own lines are kept
    assert values["PIGGY_REDIS_PASSWORD_GATEWAY"] == "kept-gateway-pw-42"
    assert {redis_acl.password_variable(n) for n in (*redis_acl.SERVICES, redis_acl.OPERATOR)} <= set(values)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "generated PIGGY_REDIS_PASSWORD_EXECUTOR" in first.stderr
    assert not any(v in first.stderr + acl.read_text() for k, v in values.items() if "PASSWORD" in k)
    again = subprocess.run(cmd, env=clean, capture_output=True, text=True, timeout=60, check=False)
    assert again.returncode == 0 and "generated" not in again.stderr
    assert redis_acl.env_file_values(env_file.read_text()) == values  # nothing regenerated

    port = free_port()
    proc = subprocess.Popen([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--aclfile", str(acl)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        health = redis.Redis(port=port, username="health", password="-")
        for _ in range(100):
            try:
                assert health.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        with pytest.raises(redis.exceptions.NoPermissionError):
            health.get("piggy:kill")  # the healthcheck's user may only PING
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(port=port).ping()  # the default user is off
        gateway = redis.Redis(port=port, username="gateway", password="kept-gateway-pw-42")
        assert gateway.ping()
        for client in (health, gateway):
            client.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_opting_out_of_acls_says_so_and_the_cli_default_is_on(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`PIGGY_REDIS_ACL=0` is the documented opt-out: the stack starts, with a WARNING line;
    unset, the setting `piggy up` reads is on."""
    from shared.settings import RedisSettings

    monkeypatch.delenv("PIGGY_REDIS_ACL", raising=False)
    assert RedisSettings().redis_acl is True
    monkeypatch.setenv("PIGGY_REDIS_ACL", "0")
    assert RedisSettings().redis_acl is False
    said: list[str] = []
    stack = Stack(home=tmp_path, ports=free_ports(), sandbox=False, acl=False, say=said.append,
                  without=frozenset(spec.name for spec in CHILDREN))
    try:
        stack.start(timeout=30)
        with redis.Redis(port=stack.ports.redis) as anonymous:
            assert anonymous.ping()  # the default user: nothing guards it
    finally:
        stack.stop()
    assert any(line.startswith("WARNING: Redis ACLs are off (PIGGY_REDIS_ACL=0)") for line in said)
