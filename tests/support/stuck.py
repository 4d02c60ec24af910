"""Before pytest-timeout ends a stuck test (thread method: every thread's stack, then exit),
print every pending asyncio task's stack: a test stuck in an event loop shows the main thread
waiting in ``select`` and nothing else, while the tasks say which ``await`` never returned."""
from __future__ import annotations

import asyncio
import gc
import io
import threading

import pytest

EARLY_S = 15.0  # this long before the test's own timeout


def _pending_tasks_text() -> str:
    out = io.StringIO()
    tasks = [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]
    out.write(f"{len(tasks)} pending asyncio task(s):\n")
    for task in tasks:
        out.write(f"--- {task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(limit=20, file=out)
    return out.getvalue()


def watch(item: pytest.Item) -> threading.Timer | None:
    """A timer that prints the pending tasks ``EARLY_S`` before ``item``'s timeout."""
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(
        item.config.getini("timeout") or 0)
    if limit <= EARLY_S:
        return None
    capman = item.config.pluginmanager.get_plugin("capturemanager")
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")

    def report() -> None:
        text = _pending_tasks_text()
        if capman is None or reporter is None:
            return
        with capman.global_and_fixture_disabled():
            reporter.write_line(f"\n{item.nodeid} still running after {limit - EARLY_S:.0f}s; "
                                + text)

    timer = threading.Timer(limit - EARLY_S, report)
    timer.daemon = True
    timer.start()
    return timer
