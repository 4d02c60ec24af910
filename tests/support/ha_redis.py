"""A real Redis Sentinel setup for tests: two redis-server nodes and three redis-sentinel
processes on free loopback ports (``piggy.ha_redis``, what ``piggy up --ha`` runs), with ACL
users; every process stopped by its own pid."""
from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from piggy.child import Child
from piggy.ha_redis import MASTER, SENTINEL_USER, HaPorts, HaRedis
from shared import redis_acl, redis_conn
from tests.support.redis_server import free_port


class HaCluster:
    def __init__(self, root: Path, acl: bool = True) -> None:
        self.passwords = {n: secrets.token_urlsafe(16) for n in (*redis_acl.SERVICES,
                                                                redis_acl.OPERATOR)}
        users = redis_acl.users(self.passwords) if acl else None
        self.ports = HaPorts(free_port(), free_port(), (free_port(), free_port(), free_port()))
        self.ha = HaRedis(root, self.ports, self._child, acl_users=users)
        self.logs = root / "logs"

    def _child(self, name: str, argv: list[str], health_url: str, env: dict[str, str],
               **kw: Any) -> Child:
        return Child(name, argv, health_url, env, self.logs / f"{name}.log", **kw)

    @property
    def children(self) -> list[Child]:
        return self.ha.children or []

    def url(self, user: str = redis_acl.OPERATOR) -> str:
        """The Sentinel URL logged in as ``user`` (a service, or the operator)."""
        if self.ha.acl_users is None:
            return self.ha.url
        return redis_conn.with_login(self.ha.url, user, self.passwords[user])

    def start(self, timeout: float = 30.0) -> None:
        for child in self.ha.plan():
            child.start()
            self.wait_healthy(child, timeout)
        self.ha.apply_sentinel_users()
        self.ha.wait_replicated(timeout)

    @staticmethod
    def wait_healthy(child: Child, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not child.healthy()[0]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{child.name} not healthy:\n{child.log_tail()}")
            time.sleep(0.05)

    def sentinel(self, index: int = 0) -> redis.Redis:
        login = ({"username": SENTINEL_USER,
                  "password": self.ha.internal_passwords()[SENTINEL_USER]}
                 if self.ha.acl_users is not None else {})
        return redis.Redis(host="127.0.0.1", port=self.ports.sentinels[index],
                           decode_responses=True, socket_timeout=2.0, **login)

    def primary_port(self) -> int:
        for i in range(3):
            try:
                with self.sentinel(i) as s:
                    _host, port = s.sentinel_get_master_addr_by_name(MASTER)
                    return int(port)
            except (redis.RedisError, OSError, TypeError):
                continue
        raise RuntimeError("no sentinel names a primary")

    def node(self, port: int) -> Child:
        return next(c for c in self.children if c.port == port)

    def wait_primary_change(self, old: int, timeout: float = 30.0) -> float:
        """Seconds until the sentinels name a primary other than ``old``."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            try:
                if self.primary_port() != old:
                    return time.monotonic() - began
            except RuntimeError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"the sentinels still name port {old} after {timeout:g}s")

    def kill_primary(self) -> tuple[Child, int]:
        """SIGKILL the primary's process; returns it and its port."""
        port = self.primary_port()
        victim = self.node(port)
        assert victim.proc is not None
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        return victim, port

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.proc is not None:
                child.stop(10.0)


@contextmanager
def ha_cluster(root: Path, acl: bool = True) -> Iterator[HaCluster]:
    cluster = HaCluster(root, acl)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
