"""The embedded stack: Redis, the sandbox exchange and each service as a supervised child.

Every child is started with its own log file under ``<home>/logs`` and stopped by its own
pid. A child that dies is reported with the end of its log and restarted (a few times).
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

from piggy import ops
from piggy.embedded_redis import start_redis
from shared import redis_acl, streams
from shared.events import ServiceRestarted
from shared.settings import with_credentials

MAX_RESTARTS = 3


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


@dataclass
class Child:
    name: str
    argv: list[str]
    health_url: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.log_path.open("ab"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    home: Path
    ports: Ports = field(default_factory=Ports)
    redis_url: str | None = None
    sandbox: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    say: Callable[[str], None] = print
    children: list[Child] = field(default_factory=list)
    redis_proc: subprocess.Popen[bytes] | None = None
    # One Redis ACL user per service (shared/redis_acl.py). ``acl_passwords`` may name any of
    # them (PIGGY_REDIS_PASSWORD_<SERVICE>); the others are generated for this run.
    acl: bool = False
    acl_passwords: dict[str, str] = field(default_factory=dict, repr=False)
    redis_admin_url: str | None = field(default=None, repr=False)

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

    def start(self, timeout: float = 30.0) -> float:
        """Start everything and wait until every part answers; returns seconds taken."""
        began = time.monotonic()
        self.home = self.home.resolve()
        self.logs.mkdir(parents=True, exist_ok=True)
        if self.redis_url is None:
            self.redis_proc = start_redis(self.ports.redis, self.home / "redis", self.logs / "redis.log")
            self.redis_url = f"redis://127.0.0.1:{self.ports.redis}/0"
            self.say(f"redis       started (pid {self.redis_proc.pid}) at {self.redis_url}")
        else:
            self.say(f"redis       using PIGGY_REDIS_URL {self.redis_url}")
        if self.acl:
            self._lock_down_redis()
        self.children = self._plan()
        for child in self.children:
            child.start()
            assert child.proc is not None
            self.say(f"{child.name:<11} started (pid {child.proc.pid}); log {child.log_path}")
        self._wait_healthy(began + timeout)
        return time.monotonic() - began

    def _lock_down_redis(self) -> None:
        """Create the service users; on a Redis this stack started, also switch the
        password-less default user off (an external Redis is the operator's to lock)."""
        import redis

        names = (*redis_acl.SERVICES, redis_acl.OPERATOR)
        generated_operator = not self.acl_passwords.get(redis_acl.OPERATOR)
        self.acl_passwords = {n: self.acl_passwords.get(n) or secrets.token_urlsafe(24) for n in names}
        direct = self.env().get("PIGGY_DIRECT_ROUTE", "").lower() in ("1", "true", "yes")
        users = redis_acl.users(self.acl_passwords, direct_route=direct)
        client = redis.Redis.from_url(self.redis_admin_url or self.redis_url or "")
        try:
            redis_acl.apply(client, users, default_off=self.redis_proc is not None)
        finally:
            client.close()
        self.say(f"redis       ACL users {', '.join(names)}"
                 + ("; default user off" if self.redis_proc is not None else ""))
        if generated_operator:
            path = self.home / "redis-operator-password"
            path.unlink(missing_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(self.acl_passwords[redis_acl.OPERATOR])
            self.say(f"redis       operator password (for the CLI) in {path}: "
                     "PIGGY_REDIS_USERNAME=operator PIGGY_REDIS_PASSWORD=$(cat that file)")

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

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for inherited in ("PIGGY_REDIS_USERNAME", "PIGGY_REDIS_PASSWORD"):
            env.pop(inherited, None)  # each child gets its own user (or none), never the operator's
        env.update({"PIGGY_REDIS_URL": self.redis_url or "", "PIGGY_HOME": str(self.home),
                    "PIGGY_API_PORT": str(self.ports.api), "PYTHONUNBUFFERED": "1"})
        if self.sandbox:  # the sandbox serves every exchange, each under /<name>
            env.update(sandbox_urls(self.sandbox_url))
        env.update(self.extra_env)
        return env

    def _plan(self) -> list[Child]:
        py = sys.executable
        plan: list[tuple[str, str, int, str]] = []
        if self.sandbox:
            plan.append(("sandbox", "sandbox", self.ports.sandbox, "/api/v3/time"))
        plan += [("gateway", "services.gateway", self.ports.api, "/healthz"),
                 ("executor", "services.executor", self.ports.executor, "/healthz"),
                 ("credentials", "services.credentials", self.ports.credentials, "/healthz"),
                 ("strategy", "services.strategy", self.ports.strategy, "/healthz"),
                 ("notifier", "services.notifier", self.ports.notifier, "/healthz"),
                 ("dashboard", "services.dashboard", self.ports.dashboard, "/_stcore/health")]
        children = []
        for name, module, port, path in plan:
            if importlib.util.find_spec(f"{module}.__main__") is None:
                continue
            if name == "dashboard" and importlib.util.find_spec("streamlit") is None:
                self.say("dashboard   skipped: streamlit is not installed (pip install -e .)")
                continue
            env = self.env() | {"PIGGY_HEALTH_PORT": str(port)}
            if name in redis_acl.SERVICES:
                env |= self.redis_env(name)
            argv = [py, "-m", module]
            if name == "sandbox":
                argv += ["--port", str(port), "--seed", env.get("PIGGY_SANDBOX_SEED", "1")]
            children.append(Child(name, argv, f"http://127.0.0.1:{port}{path}", env,
                                  self.logs / f"{name}.log"))
        return children

    def _wait_healthy(self, deadline: float) -> None:
        pending = {c.name: c for c in self.children}
        with httpx.Client(timeout=1.0) as client:
            while pending:
                for name, child in list(pending.items()):
                    if child.proc is not None and child.proc.poll() is not None:
                        raise RuntimeError(f"{name} exited with {child.proc.returncode} while starting:\n"
                                           f"{child.log_tail()}")
                    try:
                        if client.get(child.health_url).status_code == 200:
                            self.say(f"{name:<11} healthy at {child.health_url}")
                            del pending[name]
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise TimeoutError(f"not healthy in time: {', '.join(pending)}")
                time.sleep(0.05)

    def supervise_once(self) -> list[str]:
        """Report (and restart) children that died; returns the reports."""
        reports = []
        for child in self.children:
            if child.proc is None or child.proc.poll() is None:
                continue
            code = child.proc.returncode
            if child.restarts >= MAX_RESTARTS:
                reports.append(f"{child.name} died again (exit {code}); not restarting after "
                               f"{MAX_RESTARTS} restarts. Last log lines:\n{child.log_tail()}")
                child.proc = None
                self._announce_restart(child, code, gave_up=True)
                continue
            child.restarts += 1
            self._announce_restart(child, code, gave_up=False)
            reports.append(f"{child.name} died (exit {code}); restarting ({child.restarts}/"
                           f"{MAX_RESTARTS}). Last log lines:\n{child.log_tail()}")
            child.start()
        return reports

    @property
    def metrics_urls(self) -> dict[str, str]:
        """Every service's Prometheus endpoint (the sandbox and dashboard have none)."""
        return {c.name: c.health_url.replace("/healthz", "/metrics") for c in self.children
                if c.health_url.endswith("/healthz")}

    def _announce_restart(self, child: Child, code: int | None, gave_up: bool) -> None:
        """A ServiceRestarted event for the notifier; never lets a Redis problem stop us."""
        event = ServiceRestarted(service=child.name, exit_code=code, restarts=child.restarts,
                                 max_restarts=MAX_RESTARTS, gave_up=gave_up)
        try:
            asyncio.run(ops.publish(self.operator_url(), event, streams.CONTROL))
        except Exception as exc:  # noqa: BLE001 - the restart matters more than its notice
            self.say(f"restart of {child.name} not announced: {type(exc).__name__}")

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
            self.say(f"{child.name:<11} stopped")
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            self.redis_proc.terminate()
            try:
                self.redis_proc.wait(10)
            except subprocess.TimeoutExpired:
                self.redis_proc.kill()
            self.say("redis       stopped")


def sandbox_urls(root: str) -> dict[str, str]:
    """``PIGGY_<EXCHANGE>_URL`` for every exchange at a sandbox (binanceus at its root)."""
    from shared.exchanges import DEFAULT_EXCHANGE, EXCHANGES

    root = root.rstrip("/")
    return {f"PIGGY_{name.upper()}_URL": root if name == DEFAULT_EXCHANGE else f"{root}/{name}"
            for name in EXCHANGES}
