"""The per-test time limit, pytest-timeout's "thread" method with a last line that names the test.

A test stuck past its limit (setup, call or teardown) ends the run, as pytest-timeout's thread
method does ("signal" raised inside the event loop and left the loop's teardown to hang forever).
Before exiting it prints every pending asyncio task's stack (a test stuck in an event loop shows
the main thread waiting in ``select`` and nothing else, while the tasks say which ``await`` never
returned), every thread's stack, and then, as the very last lines, which test it was and what
the run had done so far: CI shows the tail of the output, and the tail must say which test.
"""
from __future__ import annotations

import asyncio
import gc
import io
import os
import sys
import threading

import pytest
from pytest_timeout import Settings, dump_stacks


def _pending_tasks_text() -> str:
    out = io.StringIO()
    tasks = [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]
    out.write(f"{len(tasks)} pending asyncio task(s):\n")
    for task in tasks:
        out.write(f"--- {task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(limit=20, file=out)
    return out.getvalue()


def _so_far(item: pytest.Item) -> str:
    reporter = item.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return ""
    counts = {k: len(v) for k, v in reporter.stats.items() if k in ("passed", "failed", "error")}
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def _end_run(item: pytest.Item, settings: Settings) -> None:
    terminal = item.config.get_terminal_writer()
    try:
        capman = item.config.pluginmanager.get_plugin("capturemanager")
        if capman is not None:
            capman.suspend_global_capture(item)
            _out, err = capman.read_global_capture()
            if err:
                terminal.sep("~", title="Captured stderr (last 40 lines)")
                terminal.write("\n".join(err.splitlines()[-40:]) + "\n")
        terminal.sep("+", title="Timeout")
        terminal.write(_pending_tasks_text())
        dump_stacks(terminal)
        terminal.sep("+", title="Timeout")
        terminal.write(f"TIMEOUT: {item.nodeid} still running after its {settings.timeout:.0f} s "
                       f"limit; the run ends here ({_so_far(item) or 'nothing'} so far)\n")
    finally:
        terminal.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def arm(item: pytest.Item, settings: Settings) -> bool | None:
    """pytest-timeout's ``pytest_timeout_set_timer`` for the thread method; None: theirs."""
    if settings.method != "thread" or not settings.timeout:
        return None
    timer = threading.Timer(settings.timeout, _end_run, (item, settings))
    timer.name = f"time limit {item.nodeid}"
    timer.daemon = True

    def cancel() -> None:
        timer.cancel()
        timer.join()

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  (pytest-timeout's own slot)
    timer.start()
    return True
