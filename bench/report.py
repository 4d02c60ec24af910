"""``python -m bench``'s results → the derived figures, the verdicts and the printed table.

Targets are issue 23's: the live overhead above direct ccxt in Redis floors (the same run's
XADD→XREADGROUP p50, so the ratio holds on any machine), CPU per live intent in the executor
and the gateway, CPU per paper intent, round trips; and the earlier rounds' (kill switch,
start-up, RSS, two executors).
"""
from __future__ import annotations

from typing import Any

from rich.table import Table

from bench.stats import in_floors

TARGETS = {"overhead_p50_floors": 8.0, "overhead_p99_floors": 25.0, "cpu_live_ms": 1.0,
           "cpu_paper_ms": 0.1, "paper_1_per_s": 5000.0, "paper_2_ratio": 1.6,
           "kill_p99_ms": 50.0, "startup_s": 5.0, "rss_mb": 120.0, "round_trips_paper": 2.0,
           "round_trips_live": 6.0, "cpu_2_vs_1": 1.10}
LIVE_SERVICES = ("executor", "gateway")


def derive(r: dict[str, Any]) -> dict[str, Any]:
    """Adds the derived figures and ``verdict`` (target met or not) to raw results."""
    live, ccxt, floor = r["live_latency"], r["ccxt_floor"], r["redis_floor"]["p50_ms"]
    r["overhead_ms"] = {"p50": round(live["p50_ms"] - ccxt["p50_ms"], 3),
                        "p99": round(live["p99_ms"] - ccxt["p99_ms"], 3)}
    r["overhead_floors"] = {k: in_floors(v, floor) for k, v in r["overhead_ms"].items()}
    one, two = r["paper_1"]["intents_per_s"], r["paper_2"]["intents_per_s"]
    r["paper_2_ratio"] = round(two / one, 2) if one else None
    cpu1, cpu2 = r["paper_1"].get("cpu_s_per_1000"), r["paper_2"].get("cpu_s_per_1000")
    r["cpu_2_vs_1"] = round(cpu2 / cpu1, 2) if cpu1 and cpu2 else None
    # CPU seconds per 1,000 intents is CPU milliseconds per intent
    r["cpu_ms_per_paper_intent"] = cpu1
    paced = r.get("paced_live", {})
    r["cpu_ms_per_live_intent"] = {s: paced.get("cpu_ms_per_intent", {}).get(s)
                                   for s in LIVE_SERVICES}
    rt = r["round_trips"]
    services = {k: v for k, v in r["peak_rss_mb"].items() if k not in ("redis", "dashboard")}
    cpu_live = r["cpu_ms_per_live_intent"]
    r["verdict"] = {
        "overhead_p50": _at_most(r["overhead_floors"]["p50"], TARGETS["overhead_p50_floors"]),
        "overhead_p99": _at_most(r["overhead_floors"]["p99"], TARGETS["overhead_p99_floors"]),
        **{f"cpu_live_{s}": _at_most(cpu_live[s], TARGETS["cpu_live_ms"]) for s in LIVE_SERVICES},
        "cpu_paper": _at_most(cpu1, TARGETS["cpu_paper_ms"]),
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


def _at_most(value: float | None, target: float) -> bool:
    return value is not None and value <= target


OK = {True: "[green]met[/]", False: "[red]not met[/]"}
STAGES = {"executor": "publish → OrderRequested made",
          "gateway": "→ OrderPlaced made (exchange call in it)",
          "back": "→ seen on the order-events stream"}


def table(r: dict[str, Any]) -> Table:
    v = r["verdict"]
    load = "–".join(str(x[0]) for x in (r.get("load_avg_at_start"), r.get("load_avg_at_end")) if x)
    t = Table(title=f"CryptoPiggy bench — {r['date']} ({r['host']['cpus']} CPUs, load {load})")
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
    om, of = r["overhead_ms"], r["overhead_floors"]
    t.add_row("  overhead above direct ccxt", f"{om['p50']} ms = {of['p50']} floors",
              f"{om['p99']} ms = {of['p99']} floors",
              f"≤ {TARGETS['overhead_p50_floors']:g} / ≤ {TARGETS['overhead_p99_floors']:g} floors",
              f"{OK[v['overhead_p50']]} / {OK[v['overhead_p99']]}")
    for stage, st in lv.get("stages_ms", {}).items():
        t.add_row(f"  stage: {STAGES[stage]}", f"{st['p50_ms']} ms", f"{st['p99_ms']} ms", "", "")
    caller = r.get("caller")
    if caller:
        t.add_row("live intent → trade line seen by the caller", f"{caller.get('p50_ms')} ms",
                  f"{caller.get('p99_ms')} ms", "", f"{caller['failed']} failed; {caller['wait']}")
    _cpu_rows(t, r)
    t.add_row("paper intents/s, 1 executor", f"{r['paper_1']['intents_per_s']:.0f}/s", "",
              f"≥ {TARGETS['paper_1_per_s']:.0f}/s quiet", OK[v["paper_1"]])
    t.add_row("paper intents/s, 2 executors", f"{r['paper_2']['intents_per_s']:.0f}/s",
              f"×{r['paper_2_ratio']}", "≥ ×1.6", OK[v["paper_2"]])
    _round_trip_rows(t, r)
    jl = r.get("journal")
    if jl:  # the books keep up with the paper pipeline (2 executors)
        t.add_row("journal: trade line → SQL row (paper backlog)", f"{jl['lag_p50_ms']} ms",
                  f"{jl['lag_p99_ms']} ms", "keeps up",
                  f"{jl['rows_per_s']} rows/s vs {jl['trade_lines_per_s']} lines/s")
        mem = jl["redis"]
        t.add_row("Redis bytes / intent (ledger key + trade line)", f"{mem['per_intent_bytes']} B",
                  f"ledger TTL {mem['ledger_ttl_journaled_s']} s once journaled", "", "")
    t.add_row("kill switch → last live order", f"{ks['p50_ms']} ms", f"{ks['p99_ms']} ms",
              "p99 ≤ 50 ms", OK[v["kill_p99"]])
    t.add_row("piggy up → all healthy", f"{r['startup_s']} s", "", "≤ 5 s", OK[v["startup"]])
    rss = ", ".join(f"{k} {m:.0f}" for k, m in r["peak_rss_mb"].items())
    t.add_row("peak RSS (MB)", rss, "", "≤ 120 MB/service", OK[v["rss"]])
    return t


def _cpu_rows(t: Table, r: dict[str, Any]) -> None:
    v = r["verdict"]
    paced = r.get("paced_live")
    if paced:
        net = paced["cpu_ms_per_intent_net_of_idle"]
        pace = f"{paced['n']} at {paced['rate_per_s']:g}/s, {paced.get('achieved_rate_per_s')}/s achieved"
        for s in LIVE_SERVICES:
            t.add_row(f"CPU ms / live intent, {s} ({pace})",
                      f"{r['cpu_ms_per_live_intent'][s]} ms", f"{net.get(s)} ms net of idle",
                      f"≤ {TARGETS['cpu_live_ms']:g} ms", OK[v[f"cpu_live_{s}"]])
        others = {k: v for k, v in paced["cpu_ms_per_intent"].items()
                  if k not in LIVE_SERVICES and v}
        t.add_row("  the other processes, CPU ms / live intent",
                  ", ".join(f"{k} {v}" for k, v in sorted(others.items(), key=lambda kv: -kv[1])),
                  "", "", "")
        pl = paced["placed_latency"]
        t.add_row("  live intent → OrderPlaced at that rate", f"{pl.get('p50_ms')} ms",
                  f"{pl.get('p99_ms')} ms", "", f"{paced['lines']}/{paced['n']} lines")
    t.add_row("CPU ms / paper intent, executor", f"{r['cpu_ms_per_paper_intent']} ms", "",
              f"≤ {TARGETS['cpu_paper_ms']:g} ms", OK[v["cpu_paper"]])
    t.add_row("  same, two executors", f"{r['paper_2'].get('cpu_s_per_1000')} ms",
              f"×{r['cpu_2_vs_1']} of one", "within 10 %", OK[v["cpu_2_vs_1"]])


def _round_trip_rows(t: Table, r: dict[str, Any]) -> None:
    v, rt = r["verdict"], r["round_trips"]
    t.add_row("Redis round trips / paper intent", f"{rt['paper']['per_intent']}",
              f"{rt['paper']['per_intent_without_idle']} w/o idle polls", "≤ 2",
              OK[v["round_trips_paper"]])
    lg = rt["live_gateway"]
    t.add_row("Redis round trips / live intent (end to end)", f"{lg['per_intent']}",
              f"{lg['per_intent_without_idle']} w/o idle polls", "≤ 6 end to end",
              OK[v["round_trips_live"]])
    for name in LIVE_SERVICES:
        t.add_row(f"  {name}'s share", f"{lg[name]['per_intent']}",
                  f"{lg[name]['per_intent_without_idle']} w/o idle polls", "", "")
