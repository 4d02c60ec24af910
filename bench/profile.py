"""``make profile`` (``python -m bench.profile``): py-spy on the executor and the gateway.

Starts the stack as ``python -m bench`` does, then records with py-spy while
* live: ``bench.paced`` publishes ``--rate`` live intents a second for ``--seconds``
  (executor and gateway recorded);
* paper: ``measure.paper_throughput`` releases a backlog of ``--paper`` paper intents
  (the executor recorded; the gateway has no part in paper trading).

Per service and mode it writes ``bench/profiles/<service>-<mode>.svg`` (py-spy's flame graph),
``<service>-<mode>.collapsed`` (py-spy's raw collapsed stacks) and ``top-<service>-<mode>.txt``
(``bench.pyspy``: the heaviest functions by own and total samples, own samples by package),
prints the top entries, and writes the runs' CPU per intent to ``profile.json``.

py-spy samples without pausing the process (``--nonblocking``: two recorders, the flame graph
and the raw stacks, read the same process at once, and a paused service would be slower than
the one measured). It needs ptrace rights over the services (root, or
``kernel.yama.ptrace_scope`` 0 for the same user, or CAP_SYS_PTRACE in a container).

    python -m bench.profile [--quick] [--rate 200] [--seconds 10] [--paper 4000] [--out DIR]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import measure, pyspy
from bench.harness import LiveStack, live_stack
from bench.paced import paced_live

OUT = Path(__file__).with_name("profiles")
SPY_RATE = 100  # 200 fell seconds behind on a loaded 2-core machine (four recorders)


def py_spy() -> str:
    """The py-spy next to this interpreter (the venv's, from the dev extras), else on PATH."""
    local = Path(sys.executable).with_name("py-spy")
    found = str(local) if local.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy not found: it is in the dev extras (make .venv/.installed)")
    return found


class Recorder:
    """py-spy recording one process into a flame graph and raw stacks until ``stop``."""

    def __init__(self, service: str, mode: str, pid: int, out: Path, rate: int) -> None:
        self.service, self.mode, self.pid, self.out = service, mode, pid, out
        self.svg = out / f"{service}-{mode}.svg"
        self.raw = out / f"{service}-{mode}.collapsed"
        self.log = out / f".{service}-{mode}.py-spy.log"
        base = [py_spy(), "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking"]
        self.procs: list[subprocess.Popen[bytes]] = []
        with self.log.open("wb") as log:
            for fmt, path in (("flamegraph", self.svg), ("raw", self.raw)):
                self.procs.append(subprocess.Popen([*base, "--format", fmt, "-o", str(path)],
                                                   stdout=log, stderr=subprocess.STDOUT,
                                                   stdin=subprocess.DEVNULL))

    def attached(self, timeout: float = 10.0) -> None:
        """Both recorders are sampling (py-spy says so), or the reason they are not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(p.poll() is not None for p in self.procs):
                self.stop()
                raise RuntimeError(f"py-spy could not record {self.service} (pid {self.pid}):\n"
                                   + self.log.read_text()[-1500:])
            if self.log.read_text().count("Sampling process") >= len(self.procs):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"py-spy did not start sampling {self.service} within {timeout:g}s:\n"
                           + self.log.read_text()[-1500:])

    def stop(self) -> None:
        """Ctrl-C to each recorder (py-spy then writes its file), each waited for by pid."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def top(self, n: int) -> str:
        stacks = pyspy.parse_collapsed(self.raw.read_text() if self.raw.exists() else "")
        text = pyspy.render(f"{self.service}, {self.mode} (py-spy {self.raw.name})",
                            pyspy.top(stacks, n))
        (self.out / f"top-{self.service}-{self.mode}.txt").write_text(text)
        return text


def recording(live: LiveStack, services: tuple[str, ...], mode: str, out: Path,
              rate: int) -> list[Recorder]:
    recorders: list[Recorder] = []
    try:
        for name in services:
            proc = live.child(name).proc
            assert proc is not None
            recorders.append(Recorder(name, mode, proc.pid, out, rate))
        for rec in recorders:
            rec.attached()
    except BaseException:
        for rec in recorders:
            rec.stop()
        raise
    return recorders


def profile(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
                               "rate": args.rate, "seconds": args.seconds, "paper": args.paper,
                               "py_spy_rate": args.spy_rate}
    with tempfile.TemporaryDirectory(prefix="piggy-profile-") as home, \
            live_stack(Path(home)) as (live, _took):
        live.admin.set_price("BTCUSDT", "50000")
        live.fund_and_arm("bench")
        say("warm-up: 1 s of live intents at 50/s")
        asyncio.run(paced_live(live, "bench", 50, 1, idle_s=0.5))
        runs = (("live", ("executor", "gateway")), ("paper", ("executor",)))
        for mode, services in runs:
            recorders = recording(live, services, mode, out, args.spy_rate)
            try:
                if mode == "live":
                    say(f"live: {args.rate}/s for {args.seconds} s, py-spy on {', '.join(services)}")
                    results[mode] = asyncio.run(paced_live(live, "bench", args.rate, args.seconds))
                else:
                    say(f"paper: a backlog of {args.paper}, py-spy on the executor")
                    results[mode] = asyncio.run(measure.paper_throughput(live, args.paper,
                                                                         lambda _k: None))
            finally:
                for rec in recorders:
                    rec.stop()
            for rec in recorders:
                print(rec.top(args.top))
    results["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    (out / "profile.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def say(line: str) -> None:
    print(f"profile: {line}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--quick", action="store_true",
                        help="100 live intents/s for 3 s, 1,000 paper intents")
    parser.add_argument("--rate", type=float, default=None, help="live intents per second (200)")
    parser.add_argument("--seconds", type=float, default=None, help="of live intents (10)")
    parser.add_argument("--paper", type=int, default=None, help="paper backlog (4000)")
    parser.add_argument("--spy-rate", type=int, default=SPY_RATE, help="py-spy samples/s")
    parser.add_argument("--top", type=int, default=12, help="entries per list")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    args.rate = args.rate or (100.0 if args.quick else 200.0)
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.paper = args.paper or (1000 if args.quick else 4000)
    results = profile(args)
    live, paper = results["live"], results["paper"]
    say(f"CPU ms per live intent (while recorded): executor "
        f"{live['cpu_ms_per_intent'].get('executor')}, gateway "
        f"{live['cpu_ms_per_intent'].get('gateway')}; paper, executor {paper['cpu_s_per_1000']}")
    say(f"written under {args.out}")


if __name__ == "__main__":
    main()
