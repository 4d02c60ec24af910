"""Starting the real stack as processes for end-to-end tests, on free ports."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from piggy.stack import Ports, Stack
from tests.support.redis_server import free_port


def free_ports() -> Ports:
    return Ports(redis=free_port(), sandbox=free_port(), api=free_port(), executor=free_port(),
                 credentials=free_port(), strategy=free_port(), dashboard=free_port(),
                 notifier=free_port(), books=free_port())


@contextmanager
def running_stack(home: Path, redis_url: str, env: dict[str, str] | None = None,
                  sandbox: bool = True, acl: bool = False) -> Iterator[Stack]:
    """``acl``: every service as its own Redis ACL user (the test Redis keeps its default
    user, so the test itself may still look at everything)."""
    stack = Stack(home=home, ports=free_ports(), redis_url=redis_url, sandbox=sandbox,
                  extra_env=env or {}, say=lambda _m: None, acl=acl)
    try:
        stack.start(timeout=60)
        yield stack
    finally:
        stack.stop()


def piggy(stack: Stack, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real ``piggy`` CLI against ``stack``, as an operator would."""
    env = dict(os.environ) | stack.env() | {"COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "piggy.cli", *args], check=False, env=env,
                          capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
