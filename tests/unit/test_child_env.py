"""Each child's environment allow-list (pure: the names come from the settings classes each
service's own source builds; tests/e2e/test_readme_sandbox_path.py reads the real children's
/proc/<pid>/environ)."""
from __future__ import annotations

import pytest

from piggy import child_env

pytestmark = pytest.mark.unit

GIVEN = {"PATH": "/bin", "HOME": "/home/u", "LC_ALL": "C.UTF-8", "PIGGY_REDIS_URL": "redis://h/0",
         "PIGGY_REDIS_USERNAME": "operator", "PIGGY_REDIS_PASSWORD": "operator-pw",
         "PIGGY_REDIS_PASSWORD_EXECUTOR": "executor-pw", "PIGGY_MASTER_KEY": "the-key",
         "PIGGY_API_TOKEN": "the-token", "PIGGY_ALERT_URLS": "tgram://bot/chat",
         "LIVE_CONFIRM_TOKEN": "confirm", "ALLOW_LIVE": "1", "AWS_SECRET_ACCESS_KEY": "x",
         "PIGGY_STRATEGY_FILE": "/s.yaml", "PIGGY_HOME": "/state"}


def test_a_child_gets_what_its_settings_read_and_its_own_secrets_only() -> None:
    strategy = child_env.child_env("strategy", GIVEN, {"PIGGY_REDIS_USERNAME": "strategy",
                                                       "PIGGY_REDIS_PASSWORD": "strategy-pw"})
    assert strategy == {"PATH": "/bin", "HOME": "/home/u", "LC_ALL": "C.UTF-8",
                        "PIGGY_REDIS_URL": "redis://h/0", "PIGGY_STRATEGY_FILE": "/s.yaml",
                        "PIGGY_REDIS_USERNAME": "strategy", "PIGGY_REDIS_PASSWORD": "strategy-pw"}
    notifier = child_env.child_env("notifier", GIVEN, {})
    assert notifier["PIGGY_ALERT_URLS"] == "tgram://bot/chat" and "ALLOW_LIVE" not in notifier
    executor = child_env.child_env("executor", GIVEN, {})
    assert executor["LIVE_CONFIRM_TOKEN"] == "confirm" and executor["ALLOW_LIVE"] == "1"
    assert "PIGGY_ALERT_URLS" not in executor


@pytest.mark.parametrize("child", sorted(child_env.PACKAGES))
def test_no_child_inherits_a_secret_the_launcher_hands_out(child: str) -> None:
    env = child_env.child_env(child, GIVEN, {})
    assert not {"PIGGY_REDIS_USERNAME", "PIGGY_REDIS_PASSWORD", "PIGGY_REDIS_PASSWORD_EXECUTOR",
                "PIGGY_MASTER_KEY", "PIGGY_API_TOKEN", "AWS_SECRET_ACCESS_KEY"} & set(env)


def test_the_names_come_from_the_settings_each_service_builds() -> None:
    assert "PIGGY_DAILY_CAP_USD" in child_env.settings_read_by("executor")
    assert "PIGGY_DAILY_CAP_USD" not in child_env.settings_read_by("gateway")
    assert "PIGGY_TICKER_SYMBOLS" in child_env.settings_read_by("gateway")
    assert "PIGGY_REVALIDATE_INTERVAL_S" in child_env.settings_read_by("credentials")
    assert child_env.settings_read_by("sandbox") == frozenset()
    assert {"PIGGY_MASTER_KEY", "PIGGY_API_TOKEN", "PIGGY_ALERT_URLS"} <= child_env.secret_names()


def test_only_the_decrypting_processes_get_the_vault_key() -> None:
    decrypting = {c for c in child_env.PACKAGES if child_env.decrypts(c, direct_route=False)}
    assert decrypting == {"gateway", "credentials", "books"}  # books: the reconciler
    assert child_env.decrypts("executor", direct_route=True)
    assert not child_env.decrypts("strategy", direct_route=True)
