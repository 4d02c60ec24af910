"""Processes starting together all get the same master key and API token (a real race on a
real filesystem): none reads a half-written file."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from services.gateway.auth import load_or_create_token
from shared.settings import ApiSettings, VaultSettings
from shared.vault import load_master_key

pytestmark = pytest.mark.integration


def _both(home: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        out.put((load_master_key(VaultSettings(home=Path(home))),
                 load_or_create_token(ApiSettings(home=Path(home)))))
    except Exception as exc:  # noqa: BLE001 - reported to the test as the failure
        out.put(repr(exc))


def test_processes_starting_together_agree_on_the_key_and_token(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    for round_ in range(10):
        home = tmp_path / str(round_)
        out = ctx.Queue()
        procs = [ctx.Process(target=_both, args=(str(home), out)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        got = [out.get(timeout=5) for _ in procs]
        assert all(isinstance(g, tuple) for g in got), got
        assert len(set(got)) == 1
        assert sorted(f.name for f in home.iterdir()) == ["api-token", "master.key"]
