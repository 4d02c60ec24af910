"""Running a sandbox: in the current event loop, in a background thread, or as a process.

* ``async with SandboxServer(port=0, seed=1) as sb:`` serves on 127.0.0.1 in the running loop
  (use it with async ccxt and ``AsyncSandboxAdmin``).
* ``with SandboxThread(seed=1) as sb:`` serves from its own loop in a daemon thread, so
  blocking clients (sync ccxt, ``SandboxAdmin``) can be used from the calling thread.
* ``with SandboxProcess(seed=1) as sb:`` runs ``python -m sandbox`` as a child process.

All three expose ``url`` (``"http://127.0.0.1:PORT"``), ``port``, ``venue_url(name)``
(``url + "/" + name``) and, except the process, ``state`` (binanceus, served at the root and at
``/binanceus``) and ``states`` (every venue by name); all refuse non-loopback hosts.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
import sys
import threading
from types import TracebackType
from typing import Self

from aiohttp import web

from sandbox.app import build_app
from sandbox.state import SandboxState
from sandbox.venues import VENUES, venue


def venue_url(url: str, name: str) -> str:
    """The base URL of venue ``name`` on the sandbox at ``url``."""
    venue(name)
    return f"{url.rstrip('/')}/{name}"


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback address; the sandbox never listens anywhere else."""
    try:
        if host == "localhost" or ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"sandbox only listens on loopback, not {host!r}")


class SandboxServer:
    def __init__(self, port: int = 0, seed: int = 0, host: str = "127.0.0.1",
                 state: SandboxState | None = None, log_requests: bool = False) -> None:
        self.host = check_loopback(host)
        self.log_requests = log_requests
        self.port = port
        self.state = state or SandboxState(seed)
        self.states = {name: self.state if name == self.state.name else
                       SandboxState(seed, venue=name) for name in VENUES}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def venue_url(self, name: str) -> str:
        return venue_url(self.url, name)

    async def start(self) -> SandboxServer:
        self._runner = web.AppRunner(build_app(self.states, log_requests=self.log_requests),
                                    access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


class SandboxThread:
    """A ``SandboxServer`` on its own event loop in a daemon thread."""

    def __init__(self, port: int = 0, seed: int = 0, host: str = "127.0.0.1") -> None:
        self.server = SandboxServer(port, seed, host)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sandbox",
                                        daemon=True)

    url = property(lambda self: self.server.url)
    port = property(lambda self: self.server.port)
    state = property(lambda self: self.server.state)
    states = property(lambda self: self.server.states)

    def venue_url(self, name: str) -> str:
        return venue_url(self.url, name)

    def start(self) -> SandboxThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SandboxProcess:
    """``python -m sandbox`` as a child process; ``url`` is read from its first stdout line."""

    def __init__(self, port: int = 0, seed: int = 0, host: str = "127.0.0.1") -> None:
        self.host, self.port, self.seed = check_loopback(host), port, seed
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def venue_url(self, name: str) -> str:
        return venue_url(self.url, name)

    def start(self, timeout: float = 15.0) -> SandboxProcess:
        cmd = [sys.executable, "-m", "sandbox", "--port", str(self.port), "--seed",
               str(self.seed), "--host", self.host]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
        timer = threading.Timer(timeout, self.proc.kill)
        timer.start()
        try:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
        finally:
            timer.cancel()
        if "http://" not in line:
            self.stop()
            raise RuntimeError(f"sandbox process did not start: {line!r}")
        self.url = line[line.index("http://"):].split()[0]
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
