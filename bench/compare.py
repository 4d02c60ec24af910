"""Before → after: two ``bench/results.json`` files side by side, row by row, with the ratio.

    python -m bench --compare bench/results-before.json      # a run, then this table
    python -m bench.compare bench/results-before.json [bench/results.json]

Both runs should come from the same machine (the ratios are what carries over); each file's
commit, date and load average head the table. A row either file lacks shows "–".
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.stats import in_floors


@dataclass(frozen=True)
class Row:
    label: str
    unit: str
    get: Callable[[dict[str, Any]], Any]
    lower_is_better: bool = True


def _at(*path: str) -> Callable[[dict[str, Any]], Any]:
    def get(r: dict[str, Any]) -> Any:
        value: Any = r
        for key in path:
            value = value[key]
        return value
    return get


def _floors(which: str) -> Callable[[dict[str, Any]], Any]:
    """Overhead in floors, derived when the file predates the figure."""
    def get(r: dict[str, Any]) -> Any:
        if "overhead_floors" in r:
            return r["overhead_floors"][which]
        return in_floors(r["overhead_ms"][which], r["redis_floor"]["p50_ms"])
    return get


ROWS = [
    Row("floor: Redis XADD→XREADGROUP p50", "ms", _at("redis_floor", "p50_ms")),
    Row("floor: direct ccxt create_order p50", "ms", _at("ccxt_floor", "p50_ms")),
    Row("live intent → OrderPlaced p50", "ms", _at("live_latency", "p50_ms")),
    Row("live intent → OrderPlaced p99", "ms", _at("live_latency", "p99_ms")),
    Row("overhead above direct ccxt p50", "ms", _at("overhead_ms", "p50")),
    Row("overhead above direct ccxt p99", "ms", _at("overhead_ms", "p99")),
    Row("overhead p50 in floors", "floors", _floors("p50")),
    Row("overhead p99 in floors", "floors", _floors("p99")),
    Row("intent → trade line seen by the caller p50", "ms", _at("caller", "p50_ms")),
    Row("intent → trade line seen by the caller p99", "ms", _at("caller", "p99_ms")),
    Row("CPU per live intent, executor", "ms", _at("cpu_ms_per_live_intent", "executor")),
    Row("CPU per live intent, gateway", "ms", _at("cpu_ms_per_live_intent", "gateway")),
    Row("live intent → OrderPlaced at the paced rate p50", "ms",
        _at("paced_live", "placed_latency", "p50_ms")),
    Row("live intent → OrderPlaced at the paced rate p99", "ms",
        _at("paced_live", "placed_latency", "p99_ms")),
    Row("CPU per paper intent, executor", "ms", _at("paper_1", "cpu_s_per_1000")),
    Row("paper intents/s, one executor", "/s", _at("paper_1", "intents_per_s"), False),
    Row("paper intents/s, two executors", "/s", _at("paper_2", "intents_per_s"), False),
    Row("Redis round trips / live intent, end to end", "", _at("round_trips", "live_gateway",
                                                               "per_intent")),
    Row("Redis round trips / paper intent", "", _at("round_trips", "paper", "per_intent")),
    Row("kill switch → last live order p99", "ms", _at("kill_switch", "p99_ms")),
    Row("piggy up → all healthy", "s", _at("startup_s")),
]


def value(row: Row, r: dict[str, Any]) -> float | None:
    try:
        got = row.get(r)
    except (KeyError, TypeError, IndexError):
        return None
    return float(got) if isinstance(got, int | float) and not isinstance(got, bool) else None


def ratio(before: float | None, after: float | None) -> float | None:
    """after / before; None when either is missing or before is 0."""
    if before is None or after is None or before == 0:
        return None
    return round(after / before, 2)


def verdict(row: Row, before: float | None, after: float | None) -> str:
    """"better", "worse" or "same" (within 5 %), by the row's direction; "" when unknown."""
    r = ratio(before, after)
    if r is None:
        return ""
    if 0.95 <= r <= 1.05:
        return "same"
    return "better" if (r < 1) == row.lower_is_better else "worse"


def rows(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(label, before, after, ratio, verdict) for every row, as text."""
    out = []
    for row in ROWS:
        b, a = value(row, before), value(row, after)
        r = ratio(b, a)
        out.append((row.label, _shown(b, row.unit), _shown(a, row.unit),
                    f"×{r:g}" if r is not None else "–", verdict(row, b, a)))
    return out


def _shown(v: float | None, unit: str) -> str:
    if v is None:
        return "–"
    text = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:g}"
    return f"{text} {unit}".strip()


def heading(r: dict[str, Any]) -> str:
    load = [x[0] for x in (r.get("load_avg_at_start"), r.get("load_avg_at_end")) if x]
    quick = " --quick" if r.get("quick") else ""
    return (f"{r.get('commit') or '?'} {str(r.get('date', ''))[:16]}{quick}, load "
            f"{'–'.join(str(x) for x in load) or '?'}")


def table(before: dict[str, Any], after: dict[str, Any]) -> Table:
    t = Table(title="before → after, same machine")
    for col in ("measurement", f"before\n{heading(before)}", f"after\n{heading(after)}", "ratio", ""):
        t.add_column(col)
    colour = {"better": "[green]better[/]", "worse": "[red]worse[/]", "same": "same", "": ""}
    for label, b, a, r, v in rows(before, after):
        t.add_row(label, b, a, r, colour[v])
    return t


def load(path: str) -> dict[str, Any]:
    try:
        return dict(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read bench results {path}: {exc}") from exc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("before")
    parser.add_argument("after", nargs="?", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)
    Console(width=None if sys.stdout.isatty() else 150).print(table(load(args.before),
                                                                   load(args.after)))


if __name__ == "__main__":
    main()
