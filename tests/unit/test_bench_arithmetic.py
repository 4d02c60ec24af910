"""The bench's arithmetic: one percentile rule, figures in Redis floors, CPU per intent, and
the verdicts ``make bench`` prints against issue 23's targets."""
from __future__ import annotations

from typing import Any

import pytest

from bench.report import derive
from bench.stats import cpu_deltas, cpu_ms_per_intent, in_floors, net_of_idle, percentile, summary

pytestmark = pytest.mark.unit


def test_percentile_is_the_nearest_rank_of_sorted_samples() -> None:
    ordered = [float(i) for i in range(1, 101)]
    assert percentile(ordered, 50) == 50.0
    assert percentile(ordered, 90) == 90.0
    assert percentile(ordered, 99) == 99.0
    assert percentile(ordered, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_summary_sorts_takes_the_median_and_says_when_there_is_nothing() -> None:
    got = summary([4.0, 1.0, 3.0, 2.0])
    assert got == {"n": 4, "p50_ms": 2.5, "p90_ms": 4.0, "p99_ms": 4.0, "max_ms": 4.0}
    assert summary([]) == {"n": 0}


def test_overhead_in_floors_is_divided_by_the_same_runs_floor() -> None:
    # the issue's quiet-machine figure: 4.19 ms over a 0.13 ms floor ≈ 32 floors
    assert in_floors(4.19, 0.13) == 32.2
    assert in_floors(1.0, 0.125) == 8.0
    assert in_floors(1.0, 0.0) is None


def test_cpu_per_intent_is_seconds_over_intents_in_milliseconds() -> None:
    # 0.74 CPU seconds for 4,000 paper intents: the 0.185 ms the issue starts from
    assert cpu_ms_per_intent(0.74, 4000) == 0.185
    assert cpu_ms_per_intent(6.0, 2000) == 3.0
    assert cpu_ms_per_intent(1.0, 0) is None


def test_cpu_deltas_cover_the_processes_present_in_both_snapshots() -> None:
    before = {"executor": 10.0, "gateway": 20.0, "gone": 1.0}
    after = {"executor": 12.5, "gateway": 26.0, "new": 3.0}
    assert cpu_deltas(before, after) == {"executor": 2.5, "gateway": 6.0}


def test_idle_cpu_is_taken_off_over_the_same_window_never_below_zero() -> None:
    assert net_of_idle(6.0, 0.05, 12.0) == pytest.approx(5.4)
    assert net_of_idle(0.1, 0.05, 12.0) == 0.0


def results(floor: float = 0.13, live: tuple[float, float] = (4.98, 8.65),
            cpu_live: dict[str, float] | None = None, paper_cpu: float = 0.185) -> dict[str, Any]:
    """The raw results ``derive`` reads, with the figures under test set."""
    cpu_live = cpu_live if cpu_live is not None else {"executor": 3.0, "gateway": 3.1}
    return {
        "redis_floor": {"p50_ms": floor, "p99_ms": floor * 3},
        "ccxt_floor": {"p50_ms": 0.79, "p99_ms": 1.45},
        "live_latency": {"p50_ms": live[0], "p99_ms": live[1]},
        "paced_live": {"cpu_ms_per_intent": cpu_live | {"sandbox": 0.5}},
        "paper_1": {"intents_per_s": 2845.0, "cpu_s_per_1000": paper_cpu},
        "paper_2": {"intents_per_s": 4454.0, "cpu_s_per_1000": 0.187},
        "round_trips": {"paper": {"per_intent": 0.054},
                        "live_gateway": {"per_intent": 8.1}},
        "peak_rss_mb": {"executor": 69.0, "gateway": 150.0, "redis": 62.0},
        "kill_switch": {"p99_ms": 3.9}, "startup_s": 3.4,
    }


def test_the_issues_starting_point_misses_every_speed_target() -> None:
    r = derive(results())
    assert r["overhead_ms"] == {"p50": 4.19, "p99": 7.2}
    assert r["overhead_floors"] == {"p50": 32.2, "p99": 55.4}
    assert r["cpu_ms_per_live_intent"] == {"executor": 3.0, "gateway": 3.1}
    assert r["cpu_ms_per_paper_intent"] == 0.185
    v = r["verdict"]
    assert not any(v[k] for k in ("overhead_p50", "overhead_p99", "cpu_live_executor",
                                  "cpu_live_gateway", "cpu_paper", "paper_1",
                                  "round_trips_live"))
    assert v["kill_p99"] and v["round_trips_paper"] and v["cpu_2_vs_1"]


def test_targets_are_met_at_8_and_25_floors_and_1_ms_of_cpu() -> None:
    # overhead 1.04 ms p50 / 3.25 ms p99 over a 0.13 ms floor: 8.0 / 25.0 floors exactly
    r = derive(results(live=(1.83, 4.70), cpu_live={"executor": 1.0, "gateway": 0.9},
                       paper_cpu=0.1))
    assert r["overhead_floors"] == {"p50": 8.0, "p99": 25.0}
    v = r["verdict"]
    assert v["overhead_p50"] and v["overhead_p99"]
    assert v["cpu_live_executor"] and v["cpu_live_gateway"] and v["cpu_paper"]


def test_a_run_without_the_paced_cpu_figures_does_not_pass_them() -> None:
    raw = results()
    del raw["paced_live"]
    r = derive(raw)
    assert r["cpu_ms_per_live_intent"] == {"executor": None, "gateway": None}
    assert not r["verdict"]["cpu_live_executor"]
