"""Live orders while the Redis primary is SIGKILLed: Sentinel promotes the replica, every
service follows it, and nothing is lost or sent twice.

Real redis-server and redis-sentinel processes on loopback (``piggy up --ha``'s topology:
a primary, a replica, three sentinels, every service as its own ACL user on both tiers), two
gateways and two executors, a funded armed user at the sandbox (which fails order requests by
seeded probability: 5xx, 429, latency, lost responses). Ground truth: the sandbox's order list.

Short form in ``make test``: 150 live intents, the primary SIGKILLed once mid-burst (the killed
node restarted as the supervisor would: it rejoins as a replica). ``make chaos``
(PIGGY_CHAOS_FULL=1): 1,000 intents, the primary killed twice (the second time after the old
primary rejoined as a replica) and 8 gateway/executor SIGKILLs.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.chaos import drive
from bench.failover import PrimaryKiller
from bench.harness import env_flag, live_stack
from piggy.ha_redis import HaPorts
from tests.chaos.test_chaos_live import _assert_sound, _prepare
from tests.support.redis_server import free_port

pytestmark = pytest.mark.chaos

FULL = env_flag("PIGGY_CHAOS_FULL")


def test_primary_sigkilled_mid_burst_loses_no_intent_and_sends_no_order_twice(
        tmp_path: Path) -> None:
    n, kills, primary_kills, seconds = (1000, 8, 2, 100.0) if FULL else (150, 0, 1, 15.0)
    ports = HaPorts(free_port(), free_port(), (free_port(), free_port(), free_port()))
    with live_stack(tmp_path, ha=ports, acl=True, timeout=90) as (live, _took):
        key = _prepare(live, seed=31)
        killer = PrimaryKiller(live)
        report = asyncio.run(drive(live, user="chaos", api_key=key["api_key"], n=n, kills=kills,
                                   seconds=seconds, seed=13, restart_redis=killer,
                                   redis_events=primary_kills))
        print(json.dumps(report.summary(), indent=1))
        print(json.dumps(killer.summary(), indent=1))
        assert len(killer.events) == primary_kills
        assert all(e.new_primary != e.killed_port for e in killer.events)
        _assert_sound(report, live)
        for child in live.stack.children:  # every service answers again, on its own
            assert child.proc is not None and child.proc.poll() is None, child.log_tail()
        # after the failover the whole credentials → validation → arm path still works
        live.fund_and_arm("after-failover")
