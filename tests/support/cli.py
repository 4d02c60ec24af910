"""Running the real ``piggy`` CLI as an operator would, with a clean environment."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from piggy.stack import Ports

REPO = Path(__file__).resolve().parents[2]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any PIGGY_* (or COLUMNS), HOME moved to ``home``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PIGGY_") and k not in ("ALLOW_LIVE", "LIVE_CONFIRM_TOKEN", "COLUMNS",
                                                        "XDG_CONFIG_HOME", "XDG_DATA_HOME")}
    env["HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env | extra


def ports_env(ports: Ports) -> dict[str, str]:
    return {"PIGGY_REDIS_PORT": str(ports.redis), "PIGGY_SANDBOX_PORT": str(ports.sandbox),
            "PIGGY_API_PORT": str(ports.api), "PIGGY_EXECUTOR_PORT": str(ports.executor),
            "PIGGY_CREDENTIALS_PORT": str(ports.credentials), "PIGGY_STRATEGY_PORT": str(ports.strategy),
            "PIGGY_DASHBOARD_PORT": str(ports.dashboard)}


def run_piggy(env: dict[str, str], *args: str, cwd: Path | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``piggy ARGS`` with stdout and stderr piped (not a terminal), stdin closed."""
    return subprocess.run([sys.executable, "-m", "piggy.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          check=False)
