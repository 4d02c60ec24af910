"""``python -m bench`` (``make bench``): the stack under measurement, against its floors.

Starts the whole stack (own Redis, the sandbox exchange, every service) on free loopback
ports, measures, stops everything by pid, prints a table and writes ``bench/results.json``.

    python -m bench [--quick] [--out bench/results.json]
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
from rich.table import Table

from bench import journal, measure
from bench.harness import free_port, live_stack
from bench.sandbox_rtt import ameasure_create_order_rtt, ameasure_rate_limiter
from piggy.embedded_redis import start_redis

TARGETS = {"overhead_p50_ms": 1.0, "overhead_p99_ms": 5.0, "paper_1_per_s": 2000.0,
           "paper_2_ratio": 1.6, "kill_p99_ms": 50.0, "startup_s": 5.0, "rss_mb": 120.0,
           "round_trips_paper": 2.0, "round_trips_live": 6.0, "cpu_2_vs_1": 1.10}


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"floor": 500, "ccxt": 100, "live": 100, "paper": 1000, "kill": 5,
                "rt_paper": 1000, "rt_live": 50}
    return {"floor": 3000, "ccxt": 500, "live": 500, "paper": 4000, "kill": 30,
            "rt_paper": 4000, "rt_live": 200}


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
                               "sizes": n, "targets": TARGETS,
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


def derive(r: dict[str, Any]) -> dict[str, Any]:
    live, ccxt = r["live_latency"], r["ccxt_floor"]
    r["overhead_ms"] = {"p50": round(live["p50_ms"] - ccxt["p50_ms"], 3),
                        "p99": round(live["p99_ms"] - ccxt["p99_ms"], 3)}
    one, two = r["paper_1"]["intents_per_s"], r["paper_2"]["intents_per_s"]
    r["paper_2_ratio"] = round(two / one, 2) if one else None
    cpu1, cpu2 = r["paper_1"].get("cpu_s_per_1000"), r["paper_2"].get("cpu_s_per_1000")
    r["cpu_2_vs_1"] = round(cpu2 / cpu1, 2) if cpu1 and cpu2 else None
    rt = r["round_trips"]
    services = {k: v for k, v in r["peak_rss_mb"].items() if k not in ("redis", "dashboard")}
    r["verdict"] = {
        "overhead_p50": r["overhead_ms"]["p50"] <= TARGETS["overhead_p50_ms"],
        "overhead_p99": r["overhead_ms"]["p99"] <= TARGETS["overhead_p99_ms"],
        "paper_1": one >= TARGETS["paper_1_per_s"],
        "paper_2": (r["paper_2_ratio"] or 0) >= TARGETS["paper_2_ratio"],
        "kill_p99": r["kill_switch"].get("p99_ms", 0) <= TARGETS["kill_p99_ms"],
        "startup": r["startup_s"] <= TARGETS["startup_s"],
        "rss": max(services.values(), default=0) <= TARGETS["rss_mb"],
        "round_trips_paper": rt["paper"]["per_intent"] <= TARGETS["round_trips_paper"],
        # end to end: the executor and the real gateway (placing at the sandbox)
        "round_trips_live": rt["live_gateway"]["per_intent"] <= TARGETS["round_trips_live"],
        "cpu_2_vs_1": (r["cpu_2_vs_1"] or 99) <= TARGETS["cpu_2_vs_1"],
    }
    return r


def table(r: dict[str, Any]) -> Table:
    ok = {True: "[green]met[/]", False: "[red]not met[/]"}
    v = r["verdict"]
    t = Table(title=f"CryptoPiggy bench — {r['date']} ({r['host']['cpus']} CPUs)")
    for col in ("measurement", "p50 / value", "p99", "target", ""):
        t.add_column(col)
    fl, cc, lv, ks = r["redis_floor"], r["ccxt_floor"], r["live_latency"], r["kill_switch"]
    t.add_row("floor: Redis XADD→XREADGROUP", f"{fl['p50_ms']} ms", f"{fl['p99_ms']} ms", "", "")
    t.add_row("floor: direct ccxt create_order", f"{cc['p50_ms']} ms", f"{cc['p99_ms']} ms", "", "")
    rl = r.get("rate_limiter")
    if rl:  # the product's client at the sandbox: ccxt's limiter off (it is on for real URLs)
        t.add_row("  order+balance, product client at sandbox (limiter off / on)",
                  f"{rl['limiter_off_p50_ms']} / {rl['limiter_on_p50_ms']} ms", "",
                  "not slowed", "" if rl["product_setting_at_loopback"] else "[red]on[/]")
    t.add_row("live intent → OrderPlaced", f"{lv['p50_ms']} ms", f"{lv['p99_ms']} ms", "",
              f"{lv['failed']} failed")
    t.add_row("  overhead above direct ccxt", f"{r['overhead_ms']['p50']} ms",
              f"{r['overhead_ms']['p99']} ms", "≤ 1.0 / ≤ 5.0 ms",
              f"{ok[v['overhead_p50']]} / {ok[v['overhead_p99']]}")
    names = {"executor": "publish → OrderRequested made", "gateway": "→ OrderPlaced made "
             "(exchange call in it)", "back": "→ seen on the order-events stream"}
    for stage, st in lv.get("stages_ms", {}).items():
        t.add_row(f"  stage: {names[stage]}", f"{st['p50_ms']} ms", f"{st['p99_ms']} ms", "", "")
    t.add_row("paper intents/s, 1 executor", f"{r['paper_1']['intents_per_s']:.0f}/s", "", "≥ 2000/s",
              ok[v["paper_1"]])
    t.add_row("paper intents/s, 2 executors", f"{r['paper_2']['intents_per_s']:.0f}/s",
              f"×{r['paper_2_ratio']}", "≥ ×1.6", ok[v["paper_2"]])
    rt = r["round_trips"]
    t.add_row("Redis round trips / paper intent", f"{rt['paper']['per_intent']}",
              f"{rt['paper']['per_intent_without_idle']} w/o idle polls", "≤ 2",
              ok[v["round_trips_paper"]])
    lg = rt["live_gateway"]
    t.add_row("Redis round trips / live intent (end to end)", f"{lg['per_intent']}",
              f"{lg['per_intent_without_idle']} w/o idle polls", "≤ 6 end to end",
              ok[v["round_trips_live"]])
    for name in ("executor", "gateway"):
        t.add_row(f"  {name}'s share", f"{lg[name]['per_intent']}",
                  f"{lg[name]['per_intent_without_idle']} w/o idle polls", "", "")
    t.add_row("executor CPU s / 1,000 paper intents", f"{r['paper_1'].get('cpu_s_per_1000')} (1)",
              f"{r['paper_2'].get('cpu_s_per_1000')} (2) ×{r['cpu_2_vs_1']}", "2 within 10 % of 1",
              ok[v["cpu_2_vs_1"]])
    jl = r.get("journal")
    if jl:  # the books keep up with the paper pipeline (2 executors)
        t.add_row("journal: trade line → SQL row (paper backlog)", f"{jl['lag_p50_ms']} ms",
                  f"{jl['lag_p99_ms']} ms", "keeps up",
                  f"{jl['rows_per_s']} rows/s vs {jl['trade_lines_per_s']} lines/s")
        mem = jl["redis"]
        t.add_row("Redis bytes / intent (ledger key + trade line)", f"{mem['per_intent_bytes']} B",
                  f"ledger TTL {mem['ledger_ttl_journaled_s']} s once journaled", "", "")
    t.add_row("kill switch → last live order", f"{ks['p50_ms']} ms", f"{ks['p99_ms']} ms",
              "p99 ≤ 50 ms", ok[v["kill_p99"]])
    t.add_row("piggy up → all healthy", f"{r['startup_s']} s", "", "≤ 5 s", ok[v["startup"]])
    rss = ", ".join(f"{k} {m:.0f}" for k, m in r["peak_rss_mb"].items())
    t.add_row("peak RSS (MB)", rss, "", "≤ 120 MB/service", ok[v["rss"]])
    return t


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small samples (~1 minute)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)
    console = Console()
    began = time.monotonic()
    results = run(args.quick, console)
    results["bench_seconds"] = round(time.monotonic() - began, 1)
    results["commit"] = _commit()
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    console.print(table(results))
    console.print(f"written {args.out} in {results['bench_seconds']} s")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, check=False).stdout.strip()
    except OSError:
        return ""


if __name__ == "__main__":
    main()
