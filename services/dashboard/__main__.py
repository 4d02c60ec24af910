"""``python -m services.dashboard``: run the Streamlit page headless on loopback.

The process becomes ``streamlit run`` (exec), so the pid the stack supervises is Streamlit's
and SIGTERM stops it. Port: ``PIGGY_HEALTH_PORT``, else ``PIGGY_DASHBOARD_PORT``, else 8501.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from services.dashboard.settings import DashboardSettings

APP = Path(__file__).with_name("app.py")
REPO = APP.parent.parent.parent


def argv(port: int, host: str = "127.0.0.1") -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.port", str(port), "--server.address", host,
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none", "--global.developmentMode", "false",
            "--client.toolbarMode", "minimal"]


def main() -> None:
    settings = DashboardSettings()
    path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), path) if p)
    args = argv(settings.port, settings.dashboard_host)
    print(f"dashboard: http://{settings.dashboard_host}:{settings.port}", flush=True)
    os.execv(args[0], args)


if __name__ == "__main__":
    main()
