"""``make profile``'s reading of py-spy's collapsed stacks, and the before → after table of
``python -m bench --compare``."""
from __future__ import annotations

from typing import Any

import pytest

from bench import compare, pyspy

pytestmark = pytest.mark.unit

ROOT = ("_run_module_as_main (<frozen runpy>:198);<module> (services/executor/__main__.py:9);"
        "serve (shared/service.py:96);Runner.run (asyncio/runners.py:118)")
RAW = "\n".join([
    # the event loop's own C code under Runner.run: counted apart, not as work
    f"{ROOT} 60",
    f"{ROOT};consume (faststream/broker/usecase.py:10);on_intents (services/executor/handlers.py:71);"
    "model_validate_json (pydantic/main.py:600) 20",
    f"{ROOT};consume (faststream/broker/usecase.py:12);on_intents (services/executor/handlers.py:80);"
    "execute_command (redis/asyncio/client.py:600) 10",
    # recursion: counted once per sample in total
    f"{ROOT};deepcopy (copy.py:128);deepcopy (copy.py:140);_deepcopy_dict (copy.py:230) 6",
    # a coroutine resumed from C: no root chain above it
    "consume (faststream/broker/usecase.py:10);log (shared/observe.py:50) 4",
    # a thread with no Python frame at all
    " 2",
    "",
])


def test_collapsed_lines_become_stacks_root_first_with_their_samples() -> None:
    stacks = pyspy.parse_collapsed(RAW)
    assert len(stacks) == 6
    assert stacks[1][0][-1] == "model_validate_json (pydantic/main.py:600)"
    assert stacks[1][1] == 20
    assert stacks[5] == ([pyspy.NO_FRAME], 2)


def test_a_line_without_a_sample_count_is_refused_naming_the_line() -> None:
    with pytest.raises(ValueError, match="line 2 "):
        pyspy.parse_collapsed("a (x.py:1) 3\na (x.py:1);b (y.py:2)\n")


def test_top_counts_own_and_total_samples_per_function_over_the_work_samples() -> None:
    t = pyspy.top(pyspy.parse_collapsed(RAW), n=20)
    assert (t.samples, t.loop, t.work) == (102, 60, 42)
    own = dict(t.own)
    assert own["model_validate_json (pydantic/main.py)"] == 20
    assert own["_deepcopy_dict (copy.py)"] == 6
    assert own[pyspy.NO_FRAME] == 2
    total = dict(t.total)
    # line numbers dropped: both call sites of consume and of on_intents add up
    assert total["consume (faststream/broker/usecase.py)"] == 34
    assert total["on_intents (services/executor/handlers.py)"] == 30
    assert total["deepcopy (copy.py)"] == 6  # not 12: once per sample
    assert not {"Runner.run (asyncio/runners.py)", "serve (shared/service.py)",
                "<module> (services/executor/__main__.py)"} & set(total)
    assert dict(t.packages) == {"pydantic": 20, "redis": 10, "copy": 6, "shared": 4,
                                pyspy.NO_FRAME: 2}


def test_the_top_lists_are_heaviest_first_and_cut_at_n() -> None:
    t = pyspy.top(pyspy.parse_collapsed(RAW), n=2)
    assert t.own == [("model_validate_json (pydantic/main.py)", 20),
                     ("execute_command (redis/asyncio/client.py)", 10)]
    assert len(t.total) == 2 and len(t.packages) == 2


@pytest.mark.parametrize(("frame", "package"), [
    ("consume (faststream/broker/usecase.py:10)", "faststream"),
    ("select (selectors.py:468)", "selectors"),
    ("get (/srv/app/.venv/lib/python3.11/site-packages/redis/client.py:5)", "redis"),
    ("entry (/home/me/shared/bus.py:420)", "shared"),
    ("_run_code (<frozen runpy>:88)", "<frozen runpy>"),
    ("no parenthesis here", "no parenthesis here"),
])
def test_a_frames_package_is_the_first_part_of_its_shortened_path(frame: str, package: str) -> None:
    assert pyspy.package_of(frame) == package


def test_the_rendered_top_entries_give_shares_of_the_work_samples() -> None:
    text = pyspy.render("executor, live", pyspy.top(pyspy.parse_collapsed(RAW), n=3))
    assert text.startswith("executor, live\n102 samples")
    assert "60 (59 %) in the event loop itself" in text
    assert "  47.6 %      20  model_validate_json (pydantic/main.py)" in text  # 20 / 42


def test_an_empty_profile_renders_without_dividing_by_zero() -> None:
    text = pyspy.render("gateway, paper", pyspy.top([], n=5))
    assert "0 samples" in text


def bench_results(**figures: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "commit": "abc1234", "date": "2026-12-08T01:30:00+00:00", "quick": True,
        "load_avg_at_start": [8.1, 6.0, 4.0], "load_avg_at_end": [9.0, 7.0, 5.0],
        "redis_floor": {"p50_ms": 0.25}, "overhead_ms": {"p50": 8.0, "p99": 14.0},
        "paper_1": {"intents_per_s": 1000.0, "cpu_s_per_1000": 0.2},
    }
    r.update(figures)
    return r


def by_label(rows: list[tuple[str, str, str, str, str]]) -> dict[str, tuple[str, ...]]:
    return {label: tuple(rest) for label, *rest in rows}


def test_compare_shows_each_row_before_and_after_with_the_ratio_and_direction() -> None:
    before = bench_results()
    after = bench_results(overhead_ms={"p50": 2.0, "p99": 14.0},
                          paper_1={"intents_per_s": 3000.0, "cpu_s_per_1000": 0.08},
                          cpu_ms_per_live_intent={"executor": 0.9, "gateway": 1.2})
    rows = by_label(compare.rows(before, after))
    assert rows["overhead above direct ccxt p50"] == ("8 ms", "2 ms", "×0.25", "better")
    assert rows["overhead above direct ccxt p99"] == ("14 ms", "14 ms", "×1", "same")
    # an older file without the figure in floors gets it derived from its own floor
    assert rows["overhead p50 in floors"] == ("32 floors", "8 floors", "×0.25", "better")
    assert rows["paper intents/s, one executor"] == ("1,000 /s", "3,000 /s", "×3", "better")
    assert rows["CPU per paper intent, executor"] == ("0.2 ms", "0.08 ms", "×0.4", "better")
    assert rows["CPU per live intent, gateway"] == ("–", "1.2 ms", "–", "")


def test_a_higher_figure_is_worse_where_lower_is_better_and_the_reverse() -> None:
    rows = by_label(compare.rows(
        bench_results(), bench_results(overhead_ms={"p50": 9.0, "p99": 14.0},
                                       paper_1={"intents_per_s": 800.0, "cpu_s_per_1000": 0.2})))
    assert rows["overhead above direct ccxt p50"][3] == "worse"
    assert rows["paper intents/s, one executor"][3] == "worse"


def test_ratio_needs_both_figures_and_a_nonzero_before() -> None:
    assert compare.ratio(2.0, 1.0) == 0.5
    assert compare.ratio(None, 1.0) is None
    assert compare.ratio(0.0, 1.0) is None


def test_each_side_is_headed_by_its_commit_date_and_load() -> None:
    assert compare.heading(bench_results()) == "abc1234 2026-12-08T01:30 --quick, load 8.1–9.0"
