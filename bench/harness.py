"""A live stack for measurements and fault runs: the real processes, a funded armed user.

Shared by ``python -m bench`` and ``tests/chaos``. Everything runs on loopback on free ports;
every process started here is stopped here by its own pid.
"""
from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aredis
from redis.client import NEVER_DECODE

from piggy.ha_redis import HaPorts
from piggy.stack import Child, Ports, Stack, sandbox_urls
from sandbox.admin import SandboxAdmin
from shared import redis_conn, streams
from shared.bus import decode_entry
from shared.exchanges import DEFAULT_EXCHANGE, TEST_SYMBOLS

# Risk limits out of the way and fast failure detection; callers may override any of it.
LIVE_ENV = {"ALLOW_LIVE": "1", "PIGGY_HEARTBEAT_MAX_AGE_S": "30", "PIGGY_CLAIM_IDLE_MS": "1000",
            "PIGGY_DAILY_CAP_USD": "100000000", "PIGGY_MAX_TRADE_USD": "1000000",
            "PIGGY_LOG_LEVEL": "WARNING", "PIGGY_EXCHANGE_TIMEOUT_MS": "3000"}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports() -> Ports:
    return Ports(redis=free_port(), sandbox=free_port(), api=free_port(), executor=free_port(),
                 credentials=free_port(), strategy=free_port(), dashboard=free_port(),
                 notifier=free_port(), books=free_port())


def peak_rss_mb(pid: int) -> float | None:
    """The peak resident set (VmHWM) of a live process, in MB."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (all its threads), from
    /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class LiveStack:
    """A ``Stack`` plus replicas, the API token and a funded, armed user at the sandbox."""

    stack: Stack
    extra: list[Child] = field(default_factory=list)

    @property
    def redis_url(self) -> str:
        assert self.stack.redis_url
        return self.stack.redis_url

    @property
    def admin_url(self) -> str:
        """``redis_url`` with the operator's login when the stack runs ACL users (in memory)."""
        return self.stack.operator_url()

    @property
    def admin(self) -> SandboxAdmin:
        return SandboxAdmin(self.stack.sandbox_url)

    def admin_for(self, exchange: str) -> SandboxAdmin:
        """The admin API of ``exchange``'s venue at the sandbox."""
        return SandboxAdmin(sandbox_urls(self.stack.sandbox_url)[f"PIGGY_{exchange.upper()}_URL"])

    def token(self) -> str:
        return (self.stack.home / "api-token").read_text().strip()

    def api(self, method: str, path: str, body: Any = None, timeout: float = 30.0,
            base: str | None = None) -> httpx.Response:
        return httpx.request(method, (base or self.stack.api_url) + path, json=body,
                             timeout=timeout, headers={"Authorization": f"Bearer {self.token()}"})

    def children(self, name: str) -> list[Child]:
        """The stack's child called ``name`` and its replicas (``name-2``, ...)."""
        return [c for c in [*self.stack.children, *self.extra]
                if c.name == name or c.name.startswith(f"{name}-")]

    def child(self, name: str) -> Child:
        return next(c for c in [*self.stack.children, *self.extra] if c.name == name)

    def add_replica(self, name: str, wait: float = 30.0) -> Child:
        """One more process of ``name`` (executor or gateway) on its own ports, healthy."""
        first = self.child(name)
        n = len(self.children(name)) + 1
        port = free_port()
        env = first.env | {"PIGGY_HEALTH_PORT": str(port)}
        if name == "gateway":
            env["PIGGY_API_PORT"] = str(port)
        replica = Child(f"{name}-{n}", first.argv, f"http://127.0.0.1:{port}/healthz", env,
                        self.stack.logs / f"{name}-{n}.log")
        replica.start()
        self.extra.append(replica)
        wait_healthy(replica, wait)
        return replica

    def fund_and_arm(self, user: str, usdt: str = "10000000",
                     exchange: str = DEFAULT_EXCHANGE) -> dict[str, Any]:
        """A sandbox key with funds (in the test pair's quote currency), saved through the API,
        validated, then live armed."""
        quote = TEST_SYMBOLS[exchange].split("/")[1]
        key = self.admin_for(exchange).create_key(balances={quote: usdt})
        saved = self.api("POST", "/api/credentials", {"userId": user, "exchange": exchange,
                                                      "apiKey": key["api_key"],
                                                      "apiSecret": key["secret"]})
        if saved.status_code != 200 or saved.json().get("status") != "validated":
            raise RuntimeError(f"keys not validated: {saved.status_code} {saved.text[:300]}")
        armed = self.api("POST", "/api/live/arm", {"userId": user, "exchange": exchange})
        if armed.status_code != 200 or not armed.json().get("armed"):
            raise RuntimeError(f"not armed: {armed.status_code} {armed.text[:500]}")
        return key

    def peak_rss(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for child in [*self.stack.children, *self.extra]:
            if child.proc is not None and child.proc.poll() is None:
                mb = peak_rss_mb(child.proc.pid)
                if mb is not None:
                    out[child.name] = round(mb, 1)
        if self.stack.redis_proc is not None:
            mb = peak_rss_mb(self.stack.redis_proc.pid)
            if mb is not None:
                out["redis"] = round(mb, 1)
        return out

    def stop(self) -> None:
        for child in reversed(self.extra):
            child.stop()
        self.stack.stop()


def wait_healthy(child: Child, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.proc is not None and child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited while starting:\n{child.log_tail()}")
        try:
            if httpx.get(child.health_url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{child.name} not healthy within {timeout:g}s:\n{child.log_tail()}")


@contextmanager
def live_stack(home: Path, *, redis_url: str | None = None, env: dict[str, str] | None = None,
               timeout: float = 60.0, ha: HaPorts | None = None,
               acl: bool = False) -> Iterator[tuple[LiveStack, float]]:
    """A started stack (own Redis unless ``redis_url``; a primary, a replica and three
    sentinels with ``ha``) and the seconds start-up took."""
    stack = Stack(home=home, ports=free_ports(), redis_url=redis_url, sandbox=True,
                  extra_env=LIVE_ENV | (env or {}), say=lambda _m: None, ha=ha, acl=acl)
    live = LiveStack(stack)
    try:
        took = stack.start(timeout=timeout)
        yield live, took
    finally:
        live.stop()


async def stream_bodies(redis: aredis.Redis, stream: str) -> list[dict[str, Any]]:
    """Every entry of ``stream``, decoded (oldest first)."""
    out: list[dict[str, Any]] = []
    last = "-"
    while True:
        batch = await redis.execute_command("XRANGE", stream, last, "+", "COUNT", 2000,
                                            **{NEVER_DECODE: True})
        if not batch:
            return out
        for _id, fields in batch:
            body = decode_entry(fields)
            if isinstance(body, dict):
                out.append(body)
        last_id = batch[-1][0]
        last = "(" + (last_id.decode() if isinstance(last_id, bytes) else last_id)


async def pending_count(redis: aredis.Redis, stream: str, group: str) -> int:
    try:
        info = await redis.xpending(stream, group)
    except aredis.ResponseError:
        return 0
    return int(info["pending"] if isinstance(info, dict) else info[0])


async def trade_lines(redis_url: str) -> list[dict[str, Any]]:
    r = redis_conn.async_client(redis_url)
    try:
        return [b for b in await stream_bodies(r, streams.TRADES) if b.get("type") == "TradeLogged"]
    finally:
        await r.aclose()


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip() not in ("", "0", "false", "no")


def run(coro: Any) -> Any:
    return asyncio.run(coro)
