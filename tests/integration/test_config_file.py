"""piggy.toml: found in its places, env > file > defaults for every settings class, typos and
bad files named in one line, secrets masked in `piggy config show`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from piggy.config import describe_validation, rows, settings_classes
from services.dashboard.settings import DashboardSettings
from shared import config_file
from shared.config_file import ConfigFileError, find_config_file, unknown_keys
from shared.settings import (
    ApiSettings,
    ExecutorSettings,
    HomeSettings,
    RedisSettings,
    StackSettings,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No PIGGY_* from the caller; HOME and XDG folders inside tmp_path."""
    for name in list(os.environ):
        if name.startswith("PIGGY_") or name in ("ALLOW_LIVE", "LIVE_CONFIRM_TOKEN", "XDG_CONFIG_HOME",
                                                 "XDG_DATA_HOME"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_lookup_order_config_env_then_user_config_then_state_folder(clean_env: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    home = clean_env / "home"
    assert find_config_file() is None
    in_state = _write(home / ".local/share/cryptopiggy/piggy.toml", "api_port = 1")
    assert find_config_file() == in_state
    in_config = _write(home / ".config/cryptopiggy/piggy.toml", "api_port = 2")
    assert find_config_file() == in_config
    explicit = _write(clean_env / "elsewhere.toml", "api_port = 3")
    monkeypatch.setenv("PIGGY_CONFIG", str(explicit))
    assert find_config_file() == explicit and ApiSettings().api_port == 3
    monkeypatch.setenv("PIGGY_CONFIG", str(clean_env / "missing.toml"))
    with pytest.raises(ConfigFileError, match=r"missing\.toml .* does not exist"):
        ApiSettings()


def test_env_beats_file_beats_default_in_every_settings_class(clean_env: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(clean_env / "piggy.toml", 'api_port = 9001\ndashboard_port = 9002\nallow_live = true\n'
                                             'redis_url = "redis://127.0.0.1:1/0"\nexecutor_port = 9003\n')
    monkeypatch.setenv("PIGGY_CONFIG", str(path))
    monkeypatch.setenv("PIGGY_REDIS_URL", "redis://127.0.0.1:2/0")
    assert RedisSettings().redis_url == "redis://127.0.0.1:2/0"  # env wins
    assert ApiSettings().api_port == 9001 and StackSettings().executor_port == 9003  # file
    assert DashboardSettings().port == 9002  # a class outside shared/ gets the file too
    assert ExecutorSettings().allow_live is True  # a field read from an alias (ALLOW_LIVE)
    assert StackSettings().strategy_port == 8003  # default
    assert HomeSettings().home == clean_env / "home/.local/share/cryptopiggy"
    found = {r.key: r for r in rows(os.environ, path, config_file.read_config_file(path))}
    assert found["redis_url"].source == "env PIGGY_REDIS_URL"
    assert found["api_port"].source == f"file {path}" and found["api_port"].value == "9001"
    assert found["allow_live"].source == f"file {path}" and found["allow_live"].env == "ALLOW_LIVE"
    assert found["strategy_port"].source == "default"


def test_a_typo_in_the_file_is_named_not_ignored(clean_env: Path) -> None:
    path = _write(clean_env / "piggy.toml", "api_port = 1\ndashbord_port = 2\n")
    assert unknown_keys(config_file.read_config_file(path), settings_classes()) == ["dashbord_port"]


def test_bad_toml_and_tables_are_one_clear_error(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = _write(clean_env / "bad.toml", "api_port = = 3\n")
    monkeypatch.setenv("PIGGY_CONFIG", str(bad))
    with pytest.raises(ConfigFileError, match=r"bad\.toml: not valid TOML"):
        ApiSettings()
    tabled = _write(clean_env / "tabled.toml", "[api]\nport = 3\n")
    monkeypatch.setenv("PIGGY_CONFIG", str(tabled))
    with pytest.raises(ConfigFileError, match=r"tables are not used \(\[api\]\)"):
        ApiSettings()


def test_a_placeholder_secret_in_the_file_is_refused_naming_the_variable(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIGGY_CONFIG", str(_write(clean_env / "p.toml", 'api_token = "changeme"\n')))
    with pytest.raises(ValidationError) as caught:
        ApiSettings()
    assert describe_validation(caught.value) == (
        "PIGGY_API_TOKEN is a placeholder; set a real value or unset it")
    monkeypatch.setenv("PIGGY_CONFIG", str(_write(clean_env / "q.toml", 'api_port = "eighty"\n')))
    with pytest.raises(ValidationError) as caught:
        ApiSettings()
    assert describe_validation(caught.value).startswith("PIGGY_API_PORT (or api_port in piggy.toml):")


def test_config_show_masks_secrets_and_says_where_each_value_came_from(clean_env: Path) -> None:
    token, key = "tok-" + "z" * 30, "k" * 43 + "="
    path = _write(clean_env / "piggy.toml", f'api_token = "{token}"\ndashboard_port = 8601\n')
    env = dict(os.environ) | {"PIGGY_CONFIG": str(path), "PIGGY_MASTER_KEY": key}
    shown = subprocess.run([sys.executable, "-m", "piggy.cli", "config", "show", "--json"], env=env,
                           capture_output=True, text=True, timeout=60, check=False)
    assert shown.returncode == 0, shown.stderr
    assert token not in shown.stdout and key not in shown.stdout
    data = json.loads(shown.stdout)
    by_key = {r["key"]: r for r in data["settings"]}
    assert data["file"] == str(path)
    assert by_key["api_token"]["value"] == "********" and by_key["api_token"]["source"] == f"file {path}"
    assert by_key["master_key"]["value"] == "********"
    assert by_key["master_key"]["source"] == "env PIGGY_MASTER_KEY"
    assert by_key["dashboard_port"]["value"] == "8601"
    assert by_key["api_port"] == {"key": "api_port", "env": "PIGGY_API_PORT", "value": "8000",
                                  "source": "default", "owner": "ApiSettings"}
    plain = subprocess.run([sys.executable, "-m", "piggy.cli", "config", "show"], env=env,
                           capture_output=True, text=True, timeout=60, check=False)
    assert plain.returncode == 0 and token not in plain.stdout
    assert f"api_token\t********\tfile {path}\tPIGGY_API_TOKEN" in plain.stdout.splitlines()


def test_the_cli_reaches_the_embedded_redis_on_its_configured_port(clean_env: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from piggy.client import redis_url

    monkeypatch.setenv("PIGGY_CONFIG", str(_write(clean_env / "piggy.toml", "redis_port = 26444\n")))
    assert redis_url() == "redis://127.0.0.1:26444/0"
    monkeypatch.setenv("PIGGY_REDIS_URL", "redis://10.0.0.1:1/0")
    assert redis_url() == "redis://10.0.0.1:1/0"
