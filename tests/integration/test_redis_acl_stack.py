"""The embedded stack locking down a Redis it started: service users created, the default
user off, the operator's generated password kept 0600 for the CLI (a real redis-server)."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest
import redis

from piggy.embedded_redis import start_redis
from piggy.stack import Stack
from shared import redis_acl
from tests.support.redis_server import free_port

pytestmark = pytest.mark.integration


def test_a_redis_the_stack_started_refuses_the_default_user(tmp_path: Path) -> None:
    port = free_port()
    proc = start_redis(port, tmp_path / "redis", tmp_path / "redis.log")
    said: list[str] = []
    try:
        stack = Stack(home=tmp_path, redis_url=f"redis://127.0.0.1:{port}/0", acl=True,
                      acl_passwords={"gateway": "given-gateway-password-0123"}, say=said.append)
        stack.redis_proc = proc
        stack._lock_down_redis()
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
        proc.terminate()
        proc.wait(10)
