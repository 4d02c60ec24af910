"""The embedded stack: Redis, the sandbox exchange and each service as a supervised child.

Before anything starts every port is checked (a port in use is named with its holder, if
/proc tells). Every child gets a fresh instance id per start and is healthy only when *it*
answers (its instance id in ``/healthz``, Redis's own pid, the port's listener pid), so
another stack's answer is never taken for ours. A child that dies or stays unhealthy for
``hung_after_s`` is reported with the end of its log and restarted with exponential backoff
within a restart budget per time window (:mod:`piggy.supervision`); Redis is one of them and
comes back with its AOF.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
from pydantic import SecretStr

from piggy import child_env, launch, ops, stackfile
from piggy import ports as portcheck
from piggy.child import Child, http_probe, redis_probe, shown
from piggy.embedded_redis import find_redis_server
from piggy.ha_redis import HaPorts, HaRedis
from piggy.ha_stack import forget_ha, start_ha, stop_ha
from piggy.supervision import GiveUp, RestartPolicy, RestartTracker
from shared import redis_acl, redis_conn, streams
from shared.books.settings import BooksSettings
from shared.events import ServiceRestarted
from shared.files import write_private
from shared.settings import ApiSettings, StackSettings, with_credentials

__all__ = ["Child", "ChildSpec", "Ports", "Stack", "StackError"]

PROBE_INTERVAL_S = 2.0
STOP_TIMEOUT_S = 10.0


class StackError(RuntimeError):
    """The stack can't start; the message names the cause (a port, Redis, a child's log)."""


@dataclass(frozen=True)
class Ports:
    redis: int = 16379
    sandbox: int = 18000
    api: int = 8000
    executor: int = 8001
    credentials: int = 8002
    strategy: int = 8003
    dashboard: int = 8501
    notifier: int = 8004
    books: int = 8005

    @classmethod
    def from_settings(cls, stack: StackSettings, api: ApiSettings) -> Ports:
        return cls(redis=stack.redis_port, sandbox=stack.sandbox_port, api=api.api_port,
                   executor=stack.executor_port, credentials=stack.credentials_port,
                   strategy=stack.strategy_port, dashboard=stack.dashboard_port,
                   notifier=stack.notifier_port, books=BooksSettings().books_port)


@dataclass(frozen=True)
class ChildSpec:
    """One line per child: name, module run with ``python -m``, its ``Ports`` field, the
    setting that moves it, its health path, and whether /healthz reports our instance id."""

    name: str
    module: str
    port: str
    setting: str
    health: str
    instance: bool = True


CHILDREN = (
    ChildSpec("sandbox", "sandbox", "sandbox", "PIGGY_SANDBOX_PORT", "/api/v3/time", instance=False),
    # the books first: they create and migrate the database the gateway reads the history from
    ChildSpec("books", "services.books", "books", "PIGGY_BOOKS_PORT", "/healthz"),
    ChildSpec("gateway", "services.gateway", "api", "PIGGY_API_PORT", "/healthz"),
    ChildSpec("executor", "services.executor", "executor", "PIGGY_EXECUTOR_PORT", "/healthz"),
    ChildSpec("credentials", "services.credentials", "credentials", "PIGGY_CREDENTIALS_PORT", "/healthz"),
    ChildSpec("strategy", "services.strategy", "strategy", "PIGGY_STRATEGY_PORT", "/healthz"),
    ChildSpec("notifier", "services.notifier", "notifier", "PIGGY_NOTIFIER_PORT", "/healthz"),
    ChildSpec("dashboard", "services.dashboard", "dashboard", "PIGGY_DASHBOARD_PORT", "/_stcore/health",
              instance=False),
)


@dataclass
class Stack:
    home: Path
    ports: Ports = field(default_factory=Ports)
    redis_url: str | None = None
    sandbox: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    say: Callable[[str], None] = print
    children: list[Child] = field(default_factory=list)
    settings: StackSettings | None = None
    redis_child: Child | None = None
    without: frozenset[str] = frozenset()  # children not to start (tests, partial stacks)
    # One Redis ACL user per service (shared/redis_acl.py). ``acl_passwords`` may name any of
    # them (PIGGY_REDIS_PASSWORD_<SERVICE>); the others are generated for this run. `piggy up`
    # turns it on unless PIGGY_REDIS_ACL=0.
    acl: bool = False
    acl_passwords: dict[str, str] = field(default_factory=dict, repr=False)
    redis_admin_url: str | None = field(default=None, repr=False)
    ha: HaPorts | None = None  # `piggy up --ha`: primary, replica, 3 sentinels (piggy/ha_redis.py)
    ha_redis: HaRedis | None = None

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dashboard}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.sandbox}"

    @property
    def redis_proc(self) -> subprocess.Popen[bytes] | None:
        return self.redis_child.proc if self.redis_child is not None else None

    @property
    def supervised(self) -> list[Child]:
        ha = (self.ha_redis.children or []) if self.ha_redis is not None else []
        return ([self.redis_child] if self.redis_child is not None else []) + ha + self.children

    def _settings(self) -> StackSettings:
        if self.settings is None:
            self.settings = StackSettings()
        return self.settings

    def policy(self) -> RestartPolicy:
        s = self._settings()
        return RestartPolicy(backoff_s=s.restart_backoff_s, backoff_max_s=s.restart_backoff_max_s,
                             budget=s.restart_budget, window_s=s.restart_window_s,
                             hung_after_s=s.hung_after_s)

    def start(self, timeout: float = 30.0) -> float:
        """Check every port, then start everything and wait until every part answers as
        itself; returns seconds taken. Raises :class:`StackError` naming the cause."""
        began = time.monotonic()
        self.home = self.home.resolve()
        self.logs.mkdir(parents=True, exist_ok=True)
        if not self.acl:
            self.say("WARNING: Redis ACLs are off (PIGGY_REDIS_ACL=0): every service shares one "
                     "Redis login and may read and write every key, the vault included")
        if self.acl:  # every password known before any child's environment is made
            generated = not self.acl_passwords.get(redis_acl.OPERATOR)
            self._acl_users()
            if generated:
                self._save_operator_password()
        self.children = self._plan()
        self.check_ports()
        services_from: float | None = None
        if self.redis_url is None and self.ha is not None:  # five processes: their own budget
            self.redis_url = start_ha(self, self.ha, time.monotonic() + timeout)
            services_from = time.monotonic()
        elif self.redis_url is None:
            forget_ha(self.home)  # the CLI finds this Redis, not the sentinels of an earlier --ha
            self.redis_child = self._redis_child()
            self.redis_url = self.redis_child.health_url
            if self.acl:  # probed as the operator: the default user is off
                self.redis_child.health_url = self.operator_url()
            self.redis_child.start()
            self._wait_healthy([self.redis_child], began + timeout)
            assert self.redis_child.proc is not None
            self.say(f"redis       started (pid {self.redis_child.proc.pid}) at {self.redis_url}; "
                     f"AOF in {self.home / 'redis'}")
        else:
            self.check_redis(self.redis_admin_url or self.redis_url)
            self.say(f"redis       using PIGGY_REDIS_URL {shown(self.redis_url)}")
            if self.acl:
                self._lock_down_redis()
        self._index_vault()
        secrets_of = self._secrets()
        for child in self.children:
            child.env = child_env.child_env(child.name, self.env() | child.env,
                                            secrets_of(child.name))
            child.start()
            assert child.proc is not None
            self.say(f"{child.name:<11} started (pid {child.proc.pid}); log {child.log_path}")
        self._wait_healthy(self.children, (services_from or began) + timeout)
        stackfile.write(self.home, self.info())
        return time.monotonic() - began

    def _index_vault(self) -> None:
        launch.index_vault(self.redis_admin_url or self.operator_url(), self.say)

    def info(self) -> stackfile.StackInfo:
        """What a CLI in another shell needs to find this stack (no secret)."""
        urls = {k: v for k, v in self.env().items()
                if k.startswith("PIGGY_") and k.endswith("_URL") and k != "PIGGY_REDIS_URL"}
        return stackfile.StackInfo(
            api_url=self.api_url, dashboard_url=self.dashboard_url,
            redis_url=without_credentials(self.redis_url or ""),
            redis_user=redis_acl.OPERATOR if self.acl else None, exchange_urls=urls,
            pid=os.getpid())

    def direct_route(self) -> bool:
        return self.env().get("PIGGY_DIRECT_ROUTE", "").lower() in ("1", "true", "yes")

    def _secrets(self) -> Callable[[str], dict[str, str]]:
        """Each child's own secrets: its Redis login; the vault master key for the processes
        that decrypt (loaded or created here, so no other child needs the key file); the
        operator's API token (when set) for the gateway, which checks it."""
        direct = self.direct_route()
        key = self._master_key() if any(child_env.decrypts(c.name, direct)
                                        for c in self.children) else None
        token = self.env().get(child_env.API_TOKEN) or os.environ.get(child_env.API_TOKEN)

        def of(name: str) -> dict[str, str]:
            own = self.redis_env(name) if name in redis_acl.SERVICES else {}
            if not self.acl and name in redis_acl.SERVICES and self.redis_child is None:
                # opted out, on a Redis of the operator's: the one login the operator gave
                own = {k: v for k in child_env.REDIS_LOGIN if (v := os.environ.get(k))}
            if key is not None and child_env.decrypts(name, direct):
                own[child_env.MASTER_KEY] = key
            if token and name == "gateway":
                own[child_env.API_TOKEN] = token
            return own

        return of

    def _master_key(self) -> str:
        try:
            return launch.master_key(self.home, self.extra_env.get(child_env.MASTER_KEY))
        except ValueError as exc:
            raise StackError(str(exc)) from exc

    def _acl_users(self) -> list[redis_acl.AclUser]:
        names = (*redis_acl.SERVICES, redis_acl.OPERATOR)
        self.acl_passwords = {n: self.acl_passwords.get(n) or secrets.token_urlsafe(24) for n in names}
        return redis_acl.users(self.acl_passwords, direct_route=self.direct_route())

    def _write_acl_file(self) -> Path:
        """For a Redis this stack starts: its users in an ACL file (password hashes only; the
        default user off), so a supervised restart comes back locked down."""
        text = redis_acl.acl_file(self._acl_users())
        path = self.home / "redis" / "users.acl"
        write_private(path, text)
        return path

    def _lock_down_redis(self) -> None:
        """An external Redis: create the service users (its default user is the operator's
        to lock)."""
        users = self._acl_users()
        client = redis_conn.sync_client(self.redis_admin_url or self.redis_url or "")
        try:
            redis_acl.apply(client, users, default_off=False)
        finally:
            client.close()
        self.say(f"redis       ACL users {', '.join(u.name for u in users)}")

    def _save_operator_password(self) -> None:
        path = self.home / "redis-operator-password"
        write_private(path, self.acl_passwords[redis_acl.OPERATOR])
        self.say(f"redis       operator password (for the CLI, which reads it there) in {path}")

    def operator_url(self) -> str:
        """The Redis URL with the operator's credentials (in memory only; never print it)."""
        if not self.acl:
            return self.redis_url or ""
        return with_credentials(self.redis_url or "", redis_acl.OPERATOR,
                                SecretStr(self.acl_passwords[redis_acl.OPERATOR]))

    def redis_env(self, user: str) -> dict[str, str]:
        """PIGGY_REDIS_USERNAME/PASSWORD of ``user`` under ACLs (else nothing)."""
        if not self.acl:
            return {}
        return {"PIGGY_REDIS_USERNAME": user, "PIGGY_REDIS_PASSWORD": self.acl_passwords[user]}

    def wanted_ports(self) -> list[tuple[str, int, str]]:
        """(part, port, setting) for everything this stack will bind."""
        wanted = []
        if self.redis_url is None and self.ha is not None:
            wanted += [(name, port, "PIGGY_REDIS_PORT") for name, port in self.ha.all()]
        elif self.redis_url is None:
            wanted.append(("redis", self.ports.redis, "PIGGY_REDIS_PORT"))
        for child in self.children:
            spec = next(s for s in CHILDREN if s.name == child.name)
            wanted.append((child.name, getattr(self.ports, spec.port), spec.setting))
        return wanted

    def check_ports(self) -> None:
        wanted = self.wanted_ports()
        problems = portcheck.duplicates((name, port) for name, port, _s in wanted)
        for name, port, setting in wanted:
            if not portcheck.is_free(port):
                problems.append(f"port {port} ({name}) is in use by {portcheck.holder(port)}; "
                                f"stop it or choose another port ({setting})")
        if problems:
            raise StackError("; ".join(problems))

    @staticmethod
    def check_redis(url: str) -> None:
        try:
            with redis_conn.sync_client(url, socket_timeout=2.0, socket_connect_timeout=2.0) as r:
                r.ping()
        except ValueError as exc:
            raise StackError(f"PIGGY_REDIS_URL {shown(url)!r} is not a Redis URL ({exc})") from exc
        except (redis.RedisError, OSError) as exc:
            raise StackError(f"Redis unreachable at {shown(url)} ({type(exc).__name__}: {exc}); fix "
                             "PIGGY_REDIS_URL or unset it to use the embedded Redis") from exc

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for inherited in ("PIGGY_REDIS_USERNAME", "PIGGY_REDIS_PASSWORD"):
            env.pop(inherited, None)  # each child gets its own user (or none), never the operator's
        url = without_credentials(self.redis_url or "") if self.acl else self.redis_url or ""
        env.update({"PIGGY_REDIS_URL": url, "PIGGY_HOME": str(self.home),
                    "PIGGY_API_PORT": str(self.ports.api), "PYTHONUNBUFFERED": "1"})
        if self.sandbox:  # the sandbox serves every exchange, each under /<name>
            env.update(sandbox_urls(self.sandbox_url))
        env.update(self.extra_env)
        return env

    def _child(self, name: str, argv: list[str], health_url: str, env: dict[str, str], **kw: object) -> Child:
        s = self._settings()
        return Child(name, argv, health_url, env, self.logs / f"{name}.log",
                     tracker=RestartTracker(self.policy()), log_max_bytes=s.log_max_bytes,
                     log_backups=s.log_backups, **kw)  # type: ignore[arg-type]

    def _redis_child(self) -> Child:
        data = self.home / "redis"
        data.mkdir(parents=True, exist_ok=True)
        argv = [find_redis_server(), "--port", str(self.ports.redis), "--bind", "127.0.0.1",
                "--dir", str(data), "--appendonly", "yes", "--save", "", "--protected-mode", "yes"]
        if self.acl:
            argv += ["--aclfile", str(self._write_acl_file())]
            self.say("redis       ACL users from its ACL file; default user off")
        return self._child("redis", argv, f"redis://127.0.0.1:{self.ports.redis}/0", {},
                           port=self.ports.redis, probe=redis_probe)

    def _plan(self) -> list[Child]:
        py = sys.executable
        children = []
        for spec in CHILDREN:
            if spec.name in self.without or (spec.name == "sandbox" and not self.sandbox):
                continue
            if importlib.util.find_spec(f"{spec.module}.__main__") is None:
                continue
            if spec.name == "dashboard" and importlib.util.find_spec("streamlit") is None:
                self.say("dashboard   skipped: streamlit is not installed (pip install -e .)")
                continue
            port = getattr(self.ports, spec.port)
            env = {"PIGGY_HEALTH_PORT": str(port)}  # its secrets are added at start (_secrets)
            argv = [py, "-m", spec.module]
            if spec.name == "sandbox":
                argv += ["--port", str(port), "--seed", self.env().get("PIGGY_SANDBOX_SEED", "1")]
            children.append(self._child(spec.name, argv, f"http://127.0.0.1:{port}{spec.health}",
                                        env, port=port, check_instance=spec.instance,
                                        probe=http_probe))
        return children

    def _wait_healthy(self, children: list[Child], deadline: float) -> None:
        """Every child answers as itself: its probe passes and the port's listener is its pid."""
        pending = {c.name: c for c in children}
        last: dict[str, str] = {}
        while pending:
            for name, child in list(pending.items()):
                if child.proc is not None and child.proc.poll() is not None:
                    raise StackError(f"{name} exited with {child.proc.returncode} while starting "
                                     f"(log {child.log_path}):\n{child.log_tail()}")
                ok, last[name] = child.healthy()
                if ok and self._owns_port(child):
                    self.say(f"{name:<11} healthy at {shown(child.health_url)}")
                    del pending[name]
            if pending and time.monotonic() > deadline:
                why = "; ".join(f"{n}: {last.get(n, '?')}" for n in pending)
                raise StackError(f"not healthy in time: {why}")
            time.sleep(0.05)

    @staticmethod
    def _until_healthy(child: Child, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.healthy()[0]:
                return True
            time.sleep(0.05)
        return False

    def _owns_port(self, child: Child) -> bool:
        """The listener on the child's port is the child (when /proc can tell)."""
        if child.port is None or child.proc is None:
            return True
        holders = portcheck.listener_pids(child.port)
        return not holders or child.proc.pid in holders

    def supervise_once(self, now: float | None = None) -> list[str]:
        """Report and act: restart children that died or hung (with backoff, within the
        budget); returns the reports. Deaths and due restarts first, then the health probes,
        all at once (a service slow to answer while Redis is down delays no restart)."""
        now = time.monotonic() if now is None else now
        reports = []
        running = []
        for child in self.supervised:
            if child.given_up:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.start()
                    assert child.proc is not None
                    reports.append(f"{child.name} restarted (pid {child.proc.pid})")
                    if child.notice_due:  # Redis: the notice needs it back first
                        self._until_healthy(child, 5.0)
                        self._announce_restart(child, child.last_exit, gave_up=False)
                        child.notice_due = False
                    child.restarts += 1
            elif child.proc is not None and child.proc.poll() is not None:
                reports.append(self._after_exit(child, f"died (exit {child.proc.returncode})", now))
            elif child.proc is not None and now - child.last_probe >= PROBE_INTERVAL_S:
                child.last_probe = now
                running.append(child)
        if running:
            with ThreadPoolExecutor(max_workers=len(running)) as pool:
                results = list(pool.map(Child.healthy, running))
            for child, (ok, detail) in zip(running, results, strict=True):
                if child.tracker.on_health(ok, now):
                    child.stop(STOP_TIMEOUT_S)
                    reports.append(self._after_exit(
                        child, f"unhealthy for {child.tracker.policy.hung_after_s:g}s ({detail}); "
                               "stopped", now))
        return reports

    def _after_exit(self, child: Child, what: str, now: float) -> str:
        decision = child.tracker.on_exit(now)
        code = child.proc.returncode if child.proc is not None else None
        tail = f" Last log lines ({child.log_path}):\n{child.log_tail()}"
        if isinstance(decision, GiveUp):
            child.given_up = True
            self._announce_restart(child, code, gave_up=True)
            return f"{child.name} {what}; {decision.reason}.{tail}"
        child.restart_at = now + decision.delay_s
        if child is not self.redis_child:  # Redis's own restart is announced once it is back
            self._announce_restart(child, code, gave_up=False)
        else:
            child.notice_due, child.last_exit = True, code
        return f"{child.name} {what}; {decision.describe(child.tracker.policy)}.{tail}"

    @property
    def metrics_urls(self) -> dict[str, str]:
        """Every service's Prometheus endpoint (the sandbox and dashboard have none)."""
        return {c.name: c.health_url.replace("/healthz", "/metrics") for c in self.children
                if c.health_url.endswith("/healthz")}

    def _announce_restart(self, child: Child, code: int | None, gave_up: bool) -> None:
        """A ServiceRestarted event for the notifier; never lets a Redis problem stop us."""
        event = ServiceRestarted(service=child.name, exit_code=code, restarts=child.restarts + 1,
                                 max_restarts=child.tracker.policy.budget, gave_up=gave_up)
        try:
            asyncio.run(ops.publish(self.operator_url(), event, streams.CONTROL))
        except Exception as exc:  # noqa: BLE001 - the restart matters more than its notice
            self.say(f"restart of {child.name} not announced: {type(exc).__name__}")

    def stop(self) -> None:
        """SIGTERM to every service at once, then wait (kill after the timeout); Redis last."""
        started = [c for c in reversed(self.children) if c.proc is not None]
        for child in started:
            child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in started:
            child.wait_or_kill(deadline - time.monotonic())
            self.say(f"{child.name:<11} stopped")
        if self.redis_child is not None and self.redis_child.proc is not None:
            self.redis_child.stop(STOP_TIMEOUT_S)
            self.say("redis       stopped")
        stackfile.remove(self.home, os.getpid())
        if self.ha_redis is not None:
            stop_ha(self)


def without_credentials(url: str) -> str:
    """``url`` without a user or password (what a child or the stack file may hold)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def sandbox_urls(root: str) -> dict[str, str]:
    """``PIGGY_<EXCHANGE>_URL`` for every exchange at a sandbox (binanceus at its root)."""
    from shared.exchanges import DEFAULT_EXCHANGE, EXCHANGES

    root = root.rstrip("/")
    return {f"PIGGY_{name.upper()}_URL": root if name == DEFAULT_EXCHANGE else f"{root}/{name}"
            for name in EXCHANGES}
