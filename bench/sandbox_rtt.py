"""The sandbox's own round-trip time for an async ccxt ``create_order``.

Later latency measurements of the trading path can subtract this floor. Each call is a
``create_market_buy_order_with_cost('BTC/USDT', 2)`` through unmodified async ccxt with
``enableRateLimit=False`` (ccxt's default throttle would add ~10 ms per order), timed with
``perf_counter`` around the awaited call, after a warm-up.

    python -m bench.sandbox_rtt [--n 200] [--url http://127.0.0.1:PORT]

Without ``--url`` a sandbox is started as a separate process (as in production use), so the
server and the client do not share an event loop. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from sandbox import AsyncSandboxAdmin, SandboxProcess
from sandbox.testing import binanceus

WARMUP = 20


def _percentile(sorted_ms: list[float], q: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(q / 100 * len(sorted_ms)) - 1))
    return sorted_ms[index]


async def ameasure_create_order_rtt(url: str, n: int = 200) -> dict[str, Any]:
    """Time ``n`` async ccxt market buys of $2 against the sandbox at ``url`` (milliseconds)."""
    admin = AsyncSandboxAdmin(url)
    await admin.set_price("BTCUSDT", "50000")
    key = await admin.create_key(balances={"USDT": str(2 * (n + WARMUP) + 10)})
    ex = binanceus(url, key)
    samples: list[float] = []
    try:
        await ex.load_markets()
        for i in range(n + WARMUP):
            start = time.perf_counter()
            await ex.create_market_buy_order_with_cost("BTC/USDT", 2)
            if i >= WARMUP:
                samples.append((time.perf_counter() - start) * 1000)
    finally:
        await ex.close()
    samples.sort()
    return {"n": n, "p50_ms": round(statistics.median(samples), 3),
            "p90_ms": round(_percentile(samples, 90), 3),
            "p99_ms": round(_percentile(samples, 99), 3),
            "mean_ms": round(statistics.fmean(samples), 3),
            "min_ms": round(samples[0], 3), "max_ms": round(samples[-1], 3),
            "call": "async ccxt binanceus create_market_buy_order_with_cost(BTC/USDT, 2)",
            "enableRateLimit": False, "url": url}


def measure_create_order_rtt(url: str, n: int = 200) -> dict[str, Any]:
    """Blocking wrapper of ``ameasure_create_order_rtt``; call it outside any event loop,
    against a sandbox that does not run in the caller's thread."""
    return asyncio.run(ameasure_create_order_rtt(url, n))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_rtt")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--url", default=None, help="an already running sandbox")
    args = parser.parse_args(argv)
    if args.url:
        result = measure_create_order_rtt(args.url, args.n)
    else:
        with SandboxProcess(port=0, seed=1) as sb:
            result = measure_create_order_rtt(sb.url, args.n)
            result["url"] = "sandbox child process"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
