"""The sandbox's own round-trip time for an async ccxt ``create_order``.

Later latency measurements of the trading path can subtract this floor. Each call is a
``create_market_buy_order_with_cost('BTC/USDT', 2)`` through unmodified async ccxt with
``enableRateLimit=False`` (ccxt's default throttle would add ~10 ms per order), timed with
``perf_counter`` around the awaited call, after a warm-up.

    python -m bench.sandbox_rtt [--n 200] [--url http://127.0.0.1:PORT] [--limiter]

``--limiter`` instead times the product's own client (``shared.exchanges``) at the sandbox:
ccxt's rate limiter is off there (loopback URL) and on for real exchanges (their declared
``rateLimit``); the same orders with the limiter switched on show what it would cost.

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

from bench.stats import summary
from sandbox import AsyncSandboxAdmin, SandboxProcess
from sandbox.testing import binanceus

WARMUP = 20


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
    return {**summary(samples), "mean_ms": round(statistics.fmean(samples), 3),
            "min_ms": round(min(samples), 3),
            "call": "async ccxt binanceus create_market_buy_order_with_cost(BTC/USDT, 2)",
            "enableRateLimit": False, "url": url}


async def ameasure_rate_limiter(url: str, n: int = 50) -> dict[str, Any]:
    """p50 of ``n`` $2 buys through the product's binanceus client at ``url``, with ccxt's
    limiter as the product sets it for a loopback URL (off), then switched on (ms)."""
    from shared.exchanges import adapter
    from shared.settings import ExchangeSettings
    from shared.vault import ApiKeyPair

    admin = AsyncSandboxAdmin(url)
    await admin.set_price("BTCUSDT", "50000")
    key = await admin.create_key(balances={"USDT": str(4 * (n + WARMUP) + 10)})
    ex = adapter("binanceus")
    client = ex.make_client(ExchangeSettings(binanceus_url=url),
                            ApiKeyPair(key["api_key"], key["secret"]))
    out: dict[str, Any] = {"n": n, "rateLimit_ms": client.rateLimit,
                           "product_setting_at_loopback": client.enableRateLimit}
    try:
        await client.load_markets()
        for label, limited in (("limiter_off_p50_ms", client.enableRateLimit),
                               ("limiter_on_p50_ms", True)):
            client.enableRateLimit = limited
            samples = []
            for i in range(n + WARMUP):
                start = time.perf_counter()
                await client.create_market_buy_order_with_cost("BTC/USDT", 2)
                await client.fetch_balance()  # a weight-4 call between orders, as the gateway's reads
                if i >= WARMUP:
                    samples.append((time.perf_counter() - start) * 1000)
            out[label] = round(statistics.median(samples), 3)
    finally:
        await client.close()
    return out


def measure_create_order_rtt(url: str, n: int = 200) -> dict[str, Any]:
    """Blocking wrapper of ``ameasure_create_order_rtt``; call it outside any event loop,
    against a sandbox that does not run in the caller's thread."""
    return asyncio.run(ameasure_create_order_rtt(url, n))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_rtt")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--url", default=None, help="an already running sandbox")
    parser.add_argument("--limiter", action="store_true",
                        help="the product client's rate limiter at the sandbox: off vs on")
    args = parser.parse_args(argv)
    if args.limiter:
        with SandboxProcess(port=0, seed=1) as sb:
            result = asyncio.run(ameasure_rate_limiter(args.url or sb.url, min(args.n, 100)))
    elif args.url:
        result = measure_create_order_rtt(args.url, args.n)
    else:
        with SandboxProcess(port=0, seed=1) as sb:
            result = measure_create_order_rtt(sb.url, args.n)
            result["url"] = "sandbox child process"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
