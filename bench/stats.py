"""The bench's arithmetic, pure: percentiles, figures in Redis floors, CPU per intent.

Every measurement module summarises its samples with ``summary`` (one percentile rule for
the whole bench); ``bench/__main__.py`` turns raw CPU seconds and latencies into the rows the
issue's targets are stated in.
"""
from __future__ import annotations

import statistics
from collections.abc import Mapping


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of an already sorted, non-empty list (nearest rank)."""
    if not ordered:
        raise ValueError("percentile of no samples")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(samples_ms: list[float]) -> dict[str, float]:
    """n, p50 (the median), p90, p99 and max of millisecond samples, rounded to µs."""
    s = sorted(samples_ms)
    if not s:
        return {"n": 0}
    return {"n": len(s), "p50_ms": round(statistics.median(s), 3),
            "p90_ms": round(percentile(s, 90), 3), "p99_ms": round(percentile(s, 99), 3),
            "max_ms": round(s[-1], 3)}


def in_floors(ms: float, floor_ms: float) -> float | None:
    """``ms`` expressed in Redis floors (the same run's XADD→XREADGROUP p50); None without
    a floor."""
    if floor_ms <= 0:
        return None
    return round(ms / floor_ms, 1)


def cpu_ms_per_intent(cpu_s: float, intents: int) -> float | None:
    """CPU seconds spent over a run of ``intents`` → milliseconds per intent."""
    if intents <= 0:
        return None
    return round(cpu_s * 1000 / intents, 3)


def cpu_deltas(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each process spent between two snapshots (processes in both only)."""
    return {name: round(after[name] - before[name], 4) for name in before if name in after}


def net_of_idle(cpu_s: float, idle_cpu_per_s: float, seconds: float) -> float:
    """``cpu_s`` less what the process spends when idle (its background loops) over the same
    ``seconds``; never below zero."""
    return max(0.0, cpu_s - idle_cpu_per_s * seconds)
