"""Secrets in settings: empty means unset, a placeholder is refused with the variable named."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.settings import ApiSettings, ExecutorSettings, VaultSettings

pytestmark = pytest.mark.unit


def test_empty_secrets_are_unset_so_the_key_and_token_files_are_used() -> None:
    assert VaultSettings(master_key="").master_key is None
    assert ApiSettings(api_token="  ").api_token is None
    assert ExecutorSettings(LIVE_CONFIRM_TOKEN="").live_confirm_token is None


@pytest.mark.parametrize(("build", "name"), [
    (lambda: VaultSettings(master_key="changeme"), "PIGGY_MASTER_KEY"),
    (lambda: ApiSettings(api_token="secret"), "PIGGY_API_TOKEN"),
    (lambda: ExecutorSettings(LIVE_CONFIRM_TOKEN="TODO"), "LIVE_CONFIRM_TOKEN"),
])
def test_placeholder_secrets_are_refused_naming_the_variable(build, name: str) -> None:
    with pytest.raises(ValidationError, match=f"{name} is a placeholder"):
        build()


def test_allow_live_is_read_from_the_plain_environment_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_LIVE", "1")
    assert ExecutorSettings().allow_live is True
