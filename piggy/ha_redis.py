"""``piggy up --ha``: a primary, a replica and three sentinels on loopback, supervised children.

Debian's ``redis-server`` and ``redis-sentinel`` under the state folder (``<home>/redis-ha``):
``node-a`` (first the primary, on ``PIGGY_REDIS_PORT``), ``node-b`` (first its replica, the
port above), ``sentinel-1..3`` (``PIGGY_REDIS_PORT`` + 10000, +10001, +10002: 26379.. by
default), quorum 2. Each gets a config file it may rewrite: Sentinel records the current
primary there and a promoted or demoted node its role (``CONFIG REWRITE``), so a restart —
by the supervisor, or a later ``piggy up --ha`` — comes back in the topology the last
failover left, never with a stale node as primary. The files are written once; later starts
keep them (``topology.json`` records the ports; other ports are refused with the cause).

With ACLs (``PIGGY_REDIS_ACL``) both data nodes load one ACL file: every service user, the
operator, and two internal users with passwords kept in ``secrets.json`` (0600):
``replication`` (a replica's login to its primary: PSYNC, REPLCONF, PING) and ``sentinel``
(the sentinels' login to the nodes, with the commands Sentinel's documentation lists, and to
each other). On the sentinels, every service user may only discover the primary (SENTINEL
GET-MASTER-ADDR-BY-NAME, MASTERS, SENTINELS, REPLICAS) with its own password, and the
operator may do anything (``piggy redis failover``): the same login works on both tiers.
"""
from __future__ import annotations

import contextlib
import functools
import json
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import redis

from piggy.child import Child, redis_probe
from piggy.embedded_redis import find_redis_server
from shared import redis_conn
from shared.files import write_private
from shared.redis_acl import AclUser

MASTER = "piggy"
QUORUM = 2
# How long a primary must be unreachable before the sentinels act. Short for loopback (a
# SIGKILLed primary is replaced in ~2 s); on a real network use 5,000 ms or more.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 10_000
REPLICATION_USER = "replication"
SENTINEL_USER = "sentinel"
_REPLICATION_RULES = ("resetkeys", "resetchannels", "-@all", "+psync", "+replconf", "+ping")
_SENTINEL_RULES = ("resetkeys", "allchannels", "-@all", "+multi", "+slaveof", "+ping", "+exec",
                   "+subscribe", "+config|rewrite", "+role", "+publish", "+info",
                   "+client|setname", "+client|kill", "+script|kill")
# What a service user may ask a sentinel: where the primary is, nothing else.
DISCOVERY_RULES = ("resetkeys", "resetchannels", "-@all", "+@connection",
                   "+sentinel|get-master-addr-by-name", "+sentinel|masters", "+sentinel|master",
                   "+sentinel|sentinels", "+sentinel|replicas", "+sentinel|slaves")


class HaError(RuntimeError):
    """The HA topology can't start as asked; the message names the cause."""


@dataclass(frozen=True)
class HaPorts:
    node_a: int
    node_b: int
    sentinels: tuple[int, int, int]

    @classmethod
    def from_redis_port(cls, port: int) -> HaPorts:
        return cls(port, port + 1, (port + 10_000, port + 10_001, port + 10_002))

    def all(self) -> list[tuple[str, int]]:
        return [("redis node-a", self.node_a), ("redis node-b", self.node_b),
                *((f"sentinel-{i}", p) for i, p in enumerate(self.sentinels, 1))]


@dataclass
class HaRedis:
    """The five processes as ``Child`` objects, their files, and the Sentinel URL."""

    root: Path
    ports: HaPorts
    make_child: Callable[..., Child]
    acl_users: list[AclUser] | None = None  # service users + operator; None: ACL off
    children: list[Child] | None = None

    @property
    def url(self) -> str:
        """The Sentinel URL (no credentials: each process adds its own user)."""
        return redis_conn.sentinel_url([("127.0.0.1", p) for p in self.ports.sentinels], MASTER)

    def internal_passwords(self) -> dict[str, str]:
        path = self.root / "secrets.json"
        if path.exists():
            return dict(json.loads(path.read_text()))
        found = {REPLICATION_USER: secrets.token_urlsafe(24), SENTINEL_USER: secrets.token_urlsafe(24)}
        write_private(path, json.dumps(found))
        return found

    def plan(self) -> list[Child]:
        """Write what is missing (config files once, the ACL file every start) and return the
        children, data nodes first."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._check_topology()
        internal = self.internal_passwords()
        acl_file = self._write_acl_file(internal) if self.acl_users is not None else None
        server, sentinel = find_redis_server(), find_sentinel()
        children: list[Child] = []
        for name, port, replica_of in (("node-a", self.ports.node_a, None),
                                       ("node-b", self.ports.node_b, self.ports.node_a)):
            conf = self.root / name / "redis.conf"
            if not conf.exists():
                write_private(conf, self._node_conf(port, conf.parent, replica_of, acl_file,
                                                    internal))
            base = self.make_child(f"redis-{name}", [server, str(conf)],
                                   self._probe_url(port, internal, sentinel=False), {},
                                   port=port, probe=redis_probe)
            children.append(NodeChild.of(base, functools.partial(self.rejoin, conf, port)))
        for i, port in enumerate(self.ports.sentinels, 1):
            conf = self.root / f"sentinel-{i}" / "sentinel.conf"
            if not conf.exists():
                write_private(conf, self._sentinel_conf(port, conf.parent, internal))
            argv = [sentinel, str(conf)] + ([] if sentinel.endswith("sentinel") else ["--sentinel"])
            children.append(self.make_child(f"sentinel-{i}", argv,
                                            self._probe_url(port, internal, sentinel=True),
                                            {}, port=port, probe=redis_probe))
        self.children = children
        return children

    def _check_topology(self) -> None:
        path = self.root / "topology.json"
        wanted = {"node_a": self.ports.node_a, "node_b": self.ports.node_b,
                  "sentinels": list(self.ports.sentinels), "master": MASTER}
        if path.exists():
            seen = json.loads(path.read_text())
            if seen != wanted:
                raise HaError(f"{self.root} was set up for ports {seen}, not {wanted}: start with "
                              f"the same PIGGY_REDIS_PORT, or remove {self.root} (its data too)")
        else:
            write_private(path, json.dumps(wanted))

    def _probe_url(self, port: int, internal: dict[str, str], *, sentinel: bool) -> str:
        if self.acl_users is None:
            return f"redis://127.0.0.1:{port}/0"
        operator = next(u for u in self.acl_users if u.name == "operator")
        user, password = ((SENTINEL_USER, internal[SENTINEL_USER]) if sentinel
                          else (operator.name, operator.password))
        return redis_conn.with_login(f"redis://127.0.0.1:{port}/0", user, password)

    def _write_acl_file(self, internal: dict[str, str]) -> Path:
        from shared.redis_acl import acl_file

        assert self.acl_users is not None
        extra = [AclUser(REPLICATION_USER, internal[REPLICATION_USER], _REPLICATION_RULES),
                 AclUser(SENTINEL_USER, internal[SENTINEL_USER], _SENTINEL_RULES)]
        path = self.root / "users.acl"
        write_private(path, acl_file([*self.acl_users, *extra]))
        return path

    @staticmethod
    def _node_conf(port: int, data: Path, replica_of: int | None, acl_file: Path | None,
                   internal: dict[str, str]) -> str:
        lines = [f"port {port}", "bind 127.0.0.1", "protected-mode yes", f"dir {data.resolve()}",
                 "appendonly yes", "appendfsync everysec", 'save ""', "replica-priority 100",
                 "repl-diskless-sync-delay 0"]
        if acl_file is not None:
            lines += [f"aclfile {acl_file.resolve()}", f"masteruser {REPLICATION_USER}",
                      f"masterauth {internal[REPLICATION_USER]}"]
        if replica_of is not None:
            lines.append(f"replicaof 127.0.0.1 {replica_of}")
        return "\n".join(lines) + "\n"

    def _sentinel_conf(self, port: int, data: Path, internal: dict[str, str]) -> str:
        lines = [f"port {port}", "bind 127.0.0.1", f"dir {data.resolve()}",
                 f"sentinel monitor {MASTER} 127.0.0.1 {self.ports.node_a} {QUORUM}",
                 f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                 f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
                 f"sentinel parallel-syncs {MASTER} 1"]
        if self.acl_users is not None:
            pw = internal[SENTINEL_USER]
            lines += [f"sentinel auth-user {MASTER} {SENTINEL_USER}",
                      f"sentinel auth-pass {MASTER} {pw}",
                      f"sentinel sentinel-user {SENTINEL_USER}", f"sentinel sentinel-pass {pw}",
                      f"user {SENTINEL_USER} on >{pw} allchannels +@all", "user default off"]
        return "\n".join(lines) + "\n"

    def current_primary(self) -> int | None:
        """The primary's port as the sentinels name it (None: no sentinel answers)."""
        internal = self.internal_passwords()
        login: dict[str, Any] = ({"username": SENTINEL_USER, "password": internal[SENTINEL_USER]}
                                 if self.acl_users is not None else {})
        for port in self.ports.sentinels:
            try:
                with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0,
                                 socket_connect_timeout=1.0, **login) as s:
                    addr = s.sentinel_get_master_addr_by_name(MASTER)
                if addr:
                    return int(addr[1])
            except (redis.RedisError, OSError):
                continue
        return None

    def rejoin(self, conf: Path, port: int) -> None:
        """Before a data node (re)starts: if the sentinels name another primary, the node
        starts as its replica (else it would come back as a second primary with old data and
        wait ~8 s for Sentinel to demote it)."""
        primary = self.current_primary()
        if primary is None or primary == port or not conf.exists():
            return
        lines = [ln for ln in conf.read_text().splitlines()
                 if not ln.startswith(("replicaof ", "slaveof "))]
        write_private(conf, "\n".join([*lines, f"replicaof 127.0.0.1 {primary}"]) + "\n")

    def demote(self, port: int) -> None:
        """Make the node on ``port`` a replica of the primary the sentinels name now (what
        Sentinel itself does ~8 s after a manual failover; until then that node still takes
        writes from clients connected before the failover)."""
        primary = self.current_primary()
        if primary is None or primary == port:
            return
        login: dict[str, Any] = {}
        if self.acl_users is not None:
            operator = next(u for u in self.acl_users if u.name == "operator")
            login = {"username": operator.name, "password": operator.password}
        with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2.0, **login) as node:
            node.execute_command("REPLICAOF", "127.0.0.1", primary)
            node.execute_command("CONFIG", "REWRITE")  # a restart comes back as a replica

    def apply_sentinel_users(self) -> None:
        """Every service user (discovery only) and the operator (everything) on each sentinel,
        with this run's passwords (Sentinel saves them in its config file)."""
        if self.acl_users is None:
            return
        internal = self.internal_passwords()
        for port in self.ports.sentinels:
            client = redis.Redis(host="127.0.0.1", port=port, username=SENTINEL_USER,
                                 password=internal[SENTINEL_USER], socket_timeout=2.0)
            try:
                for user in self.acl_users:
                    rules = ("~*", "&*", "+@all") if user.name == "operator" else DISCOVERY_RULES
                    client.execute_command("ACL", "SETUSER", user.name, "reset", "on",
                                           f">{user.password}", *rules)
            finally:
                client.close()

    def wait_replicated(self, timeout_s: float = 20.0) -> None:
        """Until the primary the sentinels name has a replica in sync and every sentinel knows
        the other two (a failover needs both)."""
        import time

        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                last = self._replication_state()
                if last == "ok":
                    return
            except (redis.RedisError, OSError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.1)
        raise HaError(f"the HA Redis is not replicating after {timeout_s:g}s: {last}")

    def _replication_state(self) -> str:
        internal = self.internal_passwords()
        login: dict[str, Any] = ({"username": SENTINEL_USER, "password": internal[SENTINEL_USER]}
                                 if self.acl_users is not None else {})
        for port in self.ports.sentinels:
            with redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0, **login) as s:
                state = s.sentinel_master(MASTER)
                if int(state.get("num-other-sentinels", 0)) < 2:
                    return f"sentinel on {port} knows {state.get('num-other-sentinels')} others"
                if int(state.get("num-slaves", 0)) < 1:
                    return f"sentinel on {port} knows no replica yet"
        replicas = self.primary_replicas()
        return "ok" if replicas else "the primary has no replica online"

    def primary_replicas(self) -> int:
        assert self.acl_users is None or self.acl_users
        url = self.url if self.acl_users is None else redis_conn.with_login(
            self.url, "operator", next(u.password for u in self.acl_users if u.name == "operator"))
        with redis_conn.sync_client(url, socket_timeout=1.0) as client:
            info = client.info("replication")
        return sum(1 for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)
                   and v.get("state") == "online")


class NodeChild(Child):
    """A data node's ``Child`` that asks where the primary is before every (re)start."""

    before_start: Callable[[], None] | None = None

    @classmethod
    def of(cls, base: Child, before_start: Callable[[], None]) -> NodeChild:
        node = cls(**{f.name: getattr(base, f.name) for f in fields(base) if f.init})
        node.before_start = before_start
        return node

    def start(self) -> None:
        if self.before_start is not None:
            with contextlib.suppress(OSError, redis.RedisError):  # else Sentinel reconfigures it
                self.before_start()
        super().start()


def find_sentinel() -> str:
    """``redis-sentinel`` on PATH (Debian's package), else ``redis-server --sentinel``'s
    binary: they are the same program."""
    return shutil.which("redis-sentinel") or find_redis_server()
