"""``python -m bench`` (``make bench``): the stack under measurement, against its floors.

Starts the whole stack (own Redis, the sandbox exchange, every service) on free loopback
ports, measures, stops everything by pid, prints a table and writes ``bench/results.json``.

    python -m bench [--quick] [--out bench/results.json] [--compare bench/results-before.json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bench import compare, journal, measure
from bench.caller import WARMUP, trade_line_latency
from bench.harness import free_port, live_stack
from bench.paced import paced_live
from bench.report import TARGETS, derive, table
from bench.sandbox_rtt import ameasure_create_order_rtt, ameasure_rate_limiter
from piggy.embedded_redis import start_redis


def sizes(quick: bool) -> dict[str, int]:
    """Samples per measurement; ``paced_rate`` live intents/s for ``paced_s`` seconds."""
    if quick:
        return {"floor": 500, "ccxt": 100, "live": 100, "paced_rate": 100, "paced_s": 3,
                "caller": 30, "paper": 1000, "kill": 5, "rt_paper": 1000, "rt_live": 50}
    return {"floor": 3000, "ccxt": 500, "live": 500, "paced_rate": 200, "paced_s": 10,
            "caller": 200, "paper": 4000, "kill": 30, "rt_paper": 4000, "rt_live": 200}


def round_trips(home: Path, n_paper: int, n_live: int) -> dict[str, Any]:
    """``bench.roundtrips`` in its own process (it instruments redis-py) on its own Redis."""
    port = free_port()
    proc = start_redis(port, home / "rt-redis", home / "rt-redis.log")
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.roundtrips", "--redis", f"redis://127.0.0.1:{port}",
             "--n", str(n_paper), "--live", str(n_live)], capture_output=True, text=True,
            timeout=600, check=True, env=os.environ | {"PIGGY_LOG_LEVEL": "WARNING"})
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        proc.terminate()
        proc.wait(10)


def run(quick: bool, console: Console) -> dict[str, Any]:
    n = sizes(quick)
    results: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                               "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                        "machine": platform.machine()},
                               "quick": quick, "sizes": n, "targets": TARGETS,
                               "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="piggy-bench-") as home, Progress(
            TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console) as progress:
        def task(label: str, total: int) -> Callable[[int], None]:
            if not console.is_terminal:  # piped or in CI: a plain line per phase
                console.print(f"bench: {label} ({total})")
            tid = progress.add_task(label, total=total)
            return lambda k: progress.advance(tid, k)

        tick = task("Redis round trips per intent (counted)", 1)
        results["round_trips"] = round_trips(Path(home), n["rt_paper"], n["rt_live"])
        tick(1)
        tick = task("start-up (piggy up → all healthy)", 1)
        with live_stack(Path(home)) as (live, took):
            tick(1)
            results["startup_s"] = round(took, 3)
            results["redis_floor"] = asyncio.run(measure.redis_floor(
                live.redis_url, n["floor"], task("floor: Redis XADD→XREADGROUP", n["floor"])))
            tick = task("floor: direct ccxt create_order", 1)
            results["ccxt_floor"] = asyncio.run(ameasure_create_order_rtt(live.stack.sandbox_url,
                                                                           n["ccxt"]))
            results["rate_limiter"] = asyncio.run(ameasure_rate_limiter(
                live.stack.sandbox_url, 30))
            tick(1)
            live.admin.set_price("BTCUSDT", "50000")
            key = live.fund_and_arm("bench")
            results["live_latency"] = asyncio.run(measure.live_latency(
                live, "bench", n["live"], task("live intent → OrderPlaced", n["live"] + 20)))
            rate, seconds = n["paced_rate"], n["paced_s"]
            results["paced_live"] = asyncio.run(paced_live(
                live, "bench", rate, seconds,
                task(f"CPU per live intent ({rate}/s × {seconds} s)", rate * seconds)))
            results["caller"] = asyncio.run(trade_line_latency(
                live, "bench", n["caller"], task("intent → trade line at the caller",
                                                 n["caller"] + WARMUP)))
            results["kill_switch"] = asyncio.run(measure.kill_to_last_order(
                live, "bench", key["api_key"], n["kill"], task("kill switch → last order",
                                                               n["kill"])))
            results["paper_1"] = asyncio.run(measure.paper_throughput(
                live, n["paper"], task("paper backlog, 1 executor", n["paper"])))
            live.add_replica("executor")
            results["paper_2"] = asyncio.run(measure.paper_throughput(
                live, n["paper"], task("paper backlog, 2 executors", n["paper"])))
            results["journal"] = asyncio.run(journal.journal_lag(
                live, n["paper"], task("journal: trade line → row", n["paper"])))
            results["peak_rss_mb"] = live.peak_rss()
    results["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return derive(results)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small samples (~1 minute)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    parser.add_argument("--compare", metavar="BEFORE.json",
                        help="then print each row before → after (e.g. bench/results-before.json)")
    args = parser.parse_args(argv)
    before = compare.load(args.compare) if args.compare else None  # unreadable: fail first
    console = Console(width=None if sys.stdout.isatty() else 150)
    began = time.monotonic()
    results = run(args.quick, console)
    results["bench_seconds"] = round(time.monotonic() - began, 1)
    results["commit"] = _commit()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    console.print(table(results))
    console.print(f"written {args.out} in {results['bench_seconds']} s")
    if before is not None:
        console.print(compare.table(before, results))


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False).stdout.strip()
    except OSError:
        return ""


if __name__ == "__main__":
    main()
