"""``<state folder>/stack.json``: where the running stack answers, for a CLI in another shell.

``piggy up`` writes it once every child is healthy and removes it when it stops: the API,
dashboard and sandbox URLs, each exchange's URL at the sandbox and the Redis URL (never a
password: the operator's Redis password, when the stack generated it, is in its own 0600
file next to it). The CLI uses these only where the environment and ``piggy.toml`` say
nothing, so a second shell needs no variables to reach the stack the first one started.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from shared.files import write_private

NAME = "stack.json"
OPERATOR_PASSWORD = "redis-operator-password"


@dataclass(frozen=True)
class StackInfo:
    api_url: str
    dashboard_url: str
    redis_url: str  # without credentials
    redis_user: str | None  # the operator's ACL user, None when ACLs are off
    exchange_urls: dict[str, str] = field(default_factory=dict)  # PIGGY_<EXCHANGE>_URL values
    pid: int = 0


def path(home: Path) -> Path:
    return home / NAME


def write(home: Path, info: StackInfo) -> None:
    write_private(path(home), json.dumps(asdict(info), indent=2) + "\n")


def remove(home: Path, pid: int) -> None:
    """Remove the file if it is this process's (another stack may have replaced it)."""
    found = read(home)
    if found is not None and found.pid == pid:
        path(home).unlink(missing_ok=True)


def read(home: Path) -> StackInfo | None:
    """The running stack's file, or None when there is none, it is unreadable, or the process
    that wrote it is gone."""
    try:
        data = json.loads(path(home).read_text())
        info = StackInfo(**data)
    except (OSError, ValueError, TypeError):
        return None
    if info.pid and not _alive(info.pid):
        return None
    return info


def operator_password(home: Path) -> str | None:
    try:
        return (home / OPERATOR_PASSWORD).read_text().strip() or None
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
