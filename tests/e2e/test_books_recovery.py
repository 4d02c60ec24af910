"""Redis wiped after trading (FLUSHALL): the books and the history are intact, the services
come back (each restarts and recreates its consumer groups), and no order is placed twice.
Real processes (``piggy up``'s stack), the sandbox over HTTP, the journal in SQLite."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from sandbox.admin import SandboxAdmin
from shared.books import db
from tests.e2e.test_live import LIVE_ENV, _armed_user
from tests.support.books_db import snapshot
from tests.support.stack import piggy, running_stack

pytestmark = pytest.mark.e2e


def _journal_rows(url: str, n: int, timeout: float = 30.0) -> dict:
    engine = db.make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            snap = snapshot(engine)
            if len(snap["orders"]) >= n or time.monotonic() > deadline:
                return snap
            time.sleep(0.2)
    finally:
        engine.dispose()


def test_after_flushall_the_books_are_intact_services_return_and_nothing_is_placed_twice(
        redis_url: str, tmp_path: Path) -> None:
    books_url = f"sqlite:///{tmp_path / 'books.sqlite3'}"
    with running_stack(tmp_path, redis_url, LIVE_ENV) as stack:
        _armed_user(stack, "flo")
        for user in ("flo", "flo", "pat"):
            bought = piggy(stack, "test-buy", "--usd", "2", "--user", user)
            assert bought.returncode == 0, bought.stdout + bought.stderr
        before = _journal_rows(books_url, 3)
        placed = SandboxAdmin(stack.sandbox_url).orders()
        redis.Redis.from_url(redis_url).flushall()
        deadline = time.monotonic() + 90
        restarted: list[str] = []
        while True:  # each service notices its groups are gone, exits, and is restarted
            restarted += [r for r in stack.supervise_once() if " restarted " in r]
            names = {r.split()[0] for r in restarted}
            if {"books", "executor", "gateway"} <= names and all(
                    c.healthy()[0] for c in stack.children if c.name != "dashboard"):
                break
            assert time.monotonic() < deadline, restarted
            time.sleep(0.5)
        again = piggy(stack, "test-buy", "--usd", "2", "--user", "pat")  # trading goes on
        after = _journal_rows(books_url, 4)
        history = piggy(stack, "trades", "--user", "flo", "--json")
        orders_after = SandboxAdmin(stack.sandbox_url).orders()
    assert len(before["orders"]) == 3
    modes = sorted(dict(o)["mode"] for o in before["orders"])
    assert modes == ["LIVE", "LIVE", "PAPER"]
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(after["orders"]) == 4 and all(o in after["orders"] for o in before["orders"])
    lines = json.loads(history.stdout)
    assert [ln["mode"] for ln in lines] == ["LIVE", "LIVE"]
    assert len(placed) == 2 and len(orders_after) == 2  # nothing re-sent after the wipe
