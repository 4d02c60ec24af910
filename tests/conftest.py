"""Project-wide pytest fixtures.

Real Redis for integration tests (see tests/support/redis_server.py):
  redis_server  session-scoped RedisServer, started lazily on first use (unit-only runs
                never start one); testcontainers when Docker answers, else a redis-server
                process. Which one is printed at start-up and in the terminal summary.
  redis_url     function-scoped: FLUSHALL, then the server's URL.
  free_port     a function returning a free 127.0.0.1 TCP port.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:  # `import tests.support...` also when run as plain `pytest`
    sys.path.insert(0, _REPO_ROOT)

from tests.support.books_db import database_url, postgres_server  # noqa: E402, F401  (fixtures)
from tests.support.redis_server import RedisServer  # noqa: E402  (after the sys.path fix above)
from tests.support.redis_server import free_port as _free_port  # noqa: E402
from tests.support.stuck import arm  # noqa: E402

_redis_lines: list[str] = []


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """The per-test limit ends the run with a last line naming the test (tests/support/stuck.py)."""
    return arm(item, settings)


def _announce(config: pytest.Config, line: str) -> None:
    """Print a line to the terminal now, even while pytest captures output."""
    _redis_lines.append(line)
    tr = config.pluginmanager.get_plugin("terminalreporter")
    capman = config.pluginmanager.get_plugin("capturemanager")
    if tr is None:
        print(line, file=sys.stderr)
        return
    if capman is not None:
        with capman.global_and_fixture_disabled():
            tr.write_line("")
            tr.write_line(line, bold=True)
    else:
        tr.write_line(line, bold=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    for line in _redis_lines:
        terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def redis_server(pytestconfig: pytest.Config) -> Iterator[RedisServer]:
    server = RedisServer()
    try:
        server.start()
    except Exception as e:
        _announce(pytestconfig, f"real Redis: could not start via {server.kind}: {e}")
        raise
    _announce(pytestconfig, server.describe())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if not redis_server.running:  # a test stopped it; bring it back for the next one
        redis_server.start()
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def free_port() -> Callable[[], int]:
    return _free_port
