"""Dashboard settings, read from the environment once when the page (or the launcher) starts."""
from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseSettings

DEFAULT_PORT = 8501


class DashboardSettings(BaseSettings):
    """``PIGGY_API_URL`` (else ``http://127.0.0.1:$PIGGY_API_PORT``), ``PIGGY_HEALTH_PORT`` (set
    per child by the stack), else ``PIGGY_DASHBOARD_PORT``, else 8501. No API token: the page
    asks whoever opens it for one and keeps it in that browser session only."""

    model_config = SettingsConfigDict(env_prefix="PIGGY_", frozen=True, extra="ignore")
    api_url: str = ""
    api_port: int = 8000
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
