"""Restart decisions with an injected clock: backoff doubles, a budget per window, hung children."""
from __future__ import annotations

import pytest

from piggy.supervision import GiveUp, Restart, RestartPolicy, RestartTracker

pytestmark = pytest.mark.unit

POLICY = RestartPolicy(backoff_s=0.5, backoff_max_s=4.0, budget=5, window_s=60.0,
                       hung_after_s=10.0, stable_after_s=30.0)


def test_each_restart_waits_twice_as_long_up_to_the_cap() -> None:
    tracker = RestartTracker(POLICY)
    delays = []
    for now in (0.0, 1.0, 3.0, 7.0):
        decision = tracker.on_exit(now)
        assert isinstance(decision, Restart)
        delays.append(decision.delay_s)
        tracker.started(now + decision.delay_s)
    assert delays == [0.5, 1.0, 2.0, 4.0]
    decision = tracker.on_exit(20.0)
    assert isinstance(decision, Restart) and decision.delay_s == 4.0  # capped


def test_the_budget_per_window_gives_up_then_allows_again_once_old_restarts_leave_it() -> None:
    tracker = RestartTracker(POLICY)
    for i in range(5):
        decision = tracker.on_exit(float(i))
        assert isinstance(decision, Restart) and decision.used == i + 1
    given_up = tracker.on_exit(5.0)
    assert isinstance(given_up, GiveUp) and "5 restarts in the last 60s" in given_up.reason
    # not "3 per life": a minute later the window holds none of them
    assert isinstance(tracker.on_exit(70.0), Restart)


def test_a_child_that_ran_stably_starts_over_at_the_shortest_backoff() -> None:
    tracker = RestartTracker(POLICY)
    for now in (0.0, 1.0, 3.0):
        tracker.on_exit(now)
    tracker.started(10.0)
    assert tracker.on_health(True, 15.0) is False
    assert tracker.consecutive == 3  # healthy, but not for long yet
    tracker.on_health(True, 45.0)
    decision = tracker.on_exit(50.0)
    assert isinstance(decision, Restart) and decision.delay_s == 0.5


def test_a_child_unhealthy_for_hung_after_s_is_hung_and_a_good_probe_resets_the_count() -> None:
    tracker = RestartTracker(POLICY)
    tracker.started(0.0)
    assert tracker.on_health(False, 2.0) is False
    assert tracker.on_health(False, 11.0) is False
    assert tracker.on_health(True, 11.5) is False  # answered again: not hung
    assert tracker.on_health(False, 12.0) is False
    assert tracker.on_health(False, 21.9) is False
    assert tracker.on_health(False, 22.0) is True
    tracker.started(30.0)  # restarted: its start-up is not counted against it
    assert tracker.on_health(False, 31.0) is False
