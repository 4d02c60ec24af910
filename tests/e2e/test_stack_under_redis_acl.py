"""The whole stack with one Redis ACL user per service (real processes, the real CLI, the
sandbox over HTTP): a strategy's credentials can't request an order or read the vault, the
normal flow (keys, arm, a LIVE-or-nothing test buy) still works, no service was refused
anything it needed, and no password reaches a log or an answer."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import redis

from sandbox.admin import SandboxAdmin
from shared import redis_acl, streams
from shared.events import OrderRequested, Side
from shared.settings import with_credentials
from tests.e2e.test_live import LIVE_ENV, _keys
from tests.support.stack import piggy, running_stack

pytestmark = pytest.mark.e2e


def _as(stack, user: str) -> redis.Redis:
    from pydantic import SecretStr

    return redis.Redis.from_url(with_credentials(stack.redis_url, user,
                                                 SecretStr(stack.acl_passwords[user])))


def test_services_run_as_least_privilege_acl_users(redis_url: str, tmp_path: Path) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "LOG", "RESET")
    with running_stack(tmp_path, redis_url, LIVE_ENV, acl=True) as stack:
        _keys(stack, "acl")  # the credentials service validated it: it read the vault
        vault_key = "piggy:vault:acl:binanceus"
        assert admin.exists(vault_key)

        strategy = _as(stack, "strategy")
        forged = OrderRequested(intent_id="forged", client_order_id="forged-1", user_id="acl",
                                exchange="binanceus", symbol="BTC/USDT", side=Side.BUY,
                                amount_usd=Decimal(2), live=True, requested_by="strategy")
        with pytest.raises(redis.exceptions.NoPermissionError):
            strategy.xadd(streams.ORDER_REQUESTS, {"__data__": forged.model_dump_json()})
        with pytest.raises(redis.exceptions.NoPermissionError):
            strategy.hgetall(vault_key)
        with pytest.raises(redis.exceptions.NoPermissionError):
            strategy.xadd(streams.TRADES, {"junk": "1"})
        with pytest.raises(redis.exceptions.NoPermissionError):
            strategy.set("piggy:kill", "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            strategy.flushall()
        assert strategy.xadd(streams.INTENTS, {"probe": "1"})  # what a strategy is for
        executor = _as(stack, "executor")
        with pytest.raises(redis.exceptions.NoPermissionError):
            executor.hgetall(vault_key)  # no direct path configured: no vault
        assert admin.xlen(streams.ORDER_REQUESTS) == 0
        assert SandboxAdmin(stack.sandbox_url).orders() == []

        armed = piggy(stack, "live", "arm", "--user", "acl")
        assert armed.returncode == 0, armed.stdout + armed.stderr
        bought = piggy(stack, "test-buy", "--live", "--usd", "2", "--user", "acl")
        assert bought.returncode == 0, bought.stdout + bought.stderr
        assert "LIVE" in bought.stdout
        assert len(SandboxAdmin(stack.sandbox_url).orders()) == 1
        halted = piggy(stack, "kill", "--reason", "acl drill")
        assert halted.returncode == 0, halted.stdout + halted.stderr
        refused = piggy(stack, "test-buy", "--live", "--usd", "2", "--user", "acl")
        assert refused.returncode == 3, refused.stdout + refused.stderr  # refused by a rule
        assert "not placed live" in refused.stdout and "kill_switch" in refused.stdout
        assert len(SandboxAdmin(stack.sandbox_url).orders()) == 1
        # a user token (created with the CLI, looked up by the gateway under its ACL user)
        created = piggy(stack, "token", "create", "--user", "acl", "--label", "e2e")
        assert created.returncode == 0, created.stdout + created.stderr
        token = created.stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {token}"}
        own = httpx.get(f"{stack.api_url}/api/trades", params={"userId": "acl"}, headers=auth)
        other = httpx.get(f"{stack.api_url}/api/balance/someone-else", headers=auth)
        listed = piggy(stack, "token", "list", "--user", "acl")
        revoked = piggy(stack, "token", "revoke", "--user", "acl")
        after = httpx.get(f"{stack.api_url}/api/trades", params={"userId": "acl"}, headers=auth)
        assert own.status_code == 200 and len(own.json()) >= 2, own.text
        assert other.status_code == 403
        assert "label=e2e" in listed.stdout and token not in listed.stdout
        assert revoked.returncode == 0 and after.status_code == 401
        outputs = [armed.stdout, armed.stderr, bought.stdout, bought.stderr, refused.stdout]
        passwords = dict(stack.acl_passwords)
        logs = [p.read_text(errors="replace") for p in stack.logs.glob("*.log")]
        strategy.close()
        executor.close()

    denials = admin.acl_log(128)
    by_user = [(_text(d["username"]), _text(d["object"])) for d in denials]
    provoked = {("strategy", streams.ORDER_REQUESTS), ("strategy", "piggy:vault:acl:binanceus"),
                ("strategy", streams.TRADES), ("strategy", "piggy:kill"),
                ("strategy", "flushall"), ("executor", "piggy:vault:acl:binanceus")}
    unexpected = [d for d in by_user if d not in provoked]
    assert unexpected == [], unexpected  # the table gives each service all it needs
    assert provoked <= set(by_user)
    assert set(passwords) == {*redis_acl.SERVICES, redis_acl.OPERATOR} and all(len(p) >= 20 for p in passwords.values())
    for text in logs + outputs:
        assert not any(p in text for p in passwords.values())
    for name in passwords:
        admin.execute_command("ACL", "DELUSER", name)
    admin.close()


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
