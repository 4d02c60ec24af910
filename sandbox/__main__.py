"""``python -m sandbox --port N [--seed S] [--host 127.0.0.1]``: serve until interrupted.

The first stdout line is ``sandbox listening on http://HOST:PORT`` (``--port 0`` picks a free
port), which ``SandboxProcess`` and scripts can parse; one line per venue follows
(``venue kraken at http://HOST:PORT/kraken``). The root URL serves binanceus.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal

from sandbox.server import SandboxServer, check_loopback


async def serve(port: int, seed: int, host: str, log_requests: bool = False) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with SandboxServer(port=port, seed=seed, host=host, log_requests=log_requests) as sb:
        print(f"sandbox listening on {sb.url} (seed {seed})", flush=True)
        for name in sb.states:
            print(f"venue {name} at {sb.venue_url(name)}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox",
                                     description="Sandbox exchange: binanceus (also at the root), binance, kraken "
                                                 "and coinbase under /<venue>")
    parser.add_argument("--port", type=int, default=18100)
    parser.add_argument("--seed", type=int, default=0)
    in_container = os.environ.get("PIGGY_SANDBOX_IN_CONTAINER") == "1"
    parser.add_argument("--host", default="127.0.0.1", type=str if in_container else check_loopback,
                        help="loopback address only (any address only inside its own container "
                             "network, with PIGGY_SANDBOX_IN_CONTAINER=1)")
    parser.add_argument("--log-requests", action="store_true",
                        help="log every request's method, path, raw query and body to stderr")
    args = parser.parse_args(argv)
    if args.log_requests:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args.port, args.seed, args.host, args.log_requests))


if __name__ == "__main__":
    main()
