"""Dashboard settings, read from the environment once when the page (or the launcher) starts."""
from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config_file import default_home
from shared.settings import BaseSettings

DEFAULT_PORT = 8501


class DashboardSettings(BaseSettings):
    """``PIGGY_API_URL`` (else ``http://127.0.0.1:$PIGGY_API_PORT``), ``PIGGY_API_TOKEN`` (else
    ``<PIGGY_HOME>/api-token``), ``PIGGY_HEALTH_PORT`` (set per child by the stack), else
    ``PIGGY_DASHBOARD_PORT``, else 8501."""

    model_config = SettingsConfigDict(env_prefix="PIGGY_", frozen=True, extra="ignore")
    api_url: str = ""
    api_port: int = 8000
    api_token: SecretStr | None = None
    home: Path = Field(default_factory=default_home)
    dashboard_port: int | None = None
    dashboard_host: str = "127.0.0.1"  # loopback; compose sets 0.0.0.0 inside its container
    health_port: int | None = None
    dashboard_user: str = ""
    request_timeout_s: float = Field(default=20.0, gt=0)
    dashboard_refresh_s: float = Field(default=5.0, gt=0)

    @property
    def base_url(self) -> str:
        return (self.api_url or f"http://127.0.0.1:{self.api_port}").rstrip("/")

    @property
    def port(self) -> int:
        return self.health_port or self.dashboard_port or DEFAULT_PORT

    def default_token(self) -> str:
        """The token from the environment, else from the gateway's token file, else empty."""
        if self.api_token is not None and self.api_token.get_secret_value().strip():
            return self.api_token.get_secret_value().strip()
        path = self.home / "api-token"
        try:
            return path.read_text().strip() if os.access(path, os.R_OK) else ""
        except OSError:
            return ""
