"""One supervised child process: started with a fresh instance id, its output in a
size-capped rotating log, probed for health as *this* process, stopped by its own pid.

The child's stdout/stderr go through a pipe to a thread that writes them, line by line, with
``logging.handlers.RotatingFileHandler``: ``<name>.log``, ``<name>.log.1`` … ``.N``, each at
most ``log_max_bytes``, so a week of ``piggy up`` can't fill the disk.
"""
from __future__ import annotations

import logging
import logging.handlers
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import redis

from piggy.supervision import RestartTracker
from shared import redis_conn

Probe = Callable[["Child"], tuple[bool, str]]


def shown(url: str) -> str:
    """``url`` as it may be printed: a password in it (the operator's Redis login, a Sentinel
    URL's ``sentinel_password``) → ``***``."""
    return redis_conn.redact(url)


def http_probe(child: Child) -> tuple[bool, str]:
    """200 from the health URL and, for our services, the instance id this start gave it."""
    try:
        resp = httpx.get(child.health_url, timeout=1.0)
    except httpx.HTTPError as exc:
        return False, f"no answer at {shown(child.health_url)} ({type(exc).__name__})"
    if resp.status_code != 200:
        return False, f"{shown(child.health_url)} answered {resp.status_code}"
    if child.check_instance:
        try:
            seen = resp.json().get("instance")
        except ValueError:
            seen = None
        if seen != child.instance_id:
            return False, (f"{shown(child.health_url)} is answered by instance {seen!r}, not the one "
                           f"started ({child.instance_id}): another process holds the port")
    return True, "ok"


def redis_probe(child: Child) -> tuple[bool, str]:
    """PING, and the server's own process id is the pid started (not another Redis)."""
    try:
        with redis.Redis.from_url(child.health_url, socket_timeout=1.0,
                                  socket_connect_timeout=1.0) as r:
            pid = int(r.info("server")["process_id"])
    except (redis.RedisError, OSError, KeyError, ValueError) as exc:
        return False, f"no answer at {shown(child.health_url)} ({type(exc).__name__})"
    if child.proc is not None and pid != child.proc.pid:
        return False, f"{shown(child.health_url)} is answered by redis pid {pid}, not ours ({child.proc.pid})"
    return True, "ok"


@dataclass
class Child:
    name: str
    argv: list[str]
    health_url: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    port: int | None = None
    check_instance: bool = False
    probe: Probe = http_probe
    tracker: RestartTracker = field(default_factory=RestartTracker)
    log_max_bytes: int = 10_000_000
    log_backups: int = 5
    instance_id: str = ""
    restart_at: float | None = None
    given_up: bool = False
    last_probe: float = 0.0
    notice_due: bool = False  # the last exit is to be announced once the child is back
    last_exit: int | None = None
    _log: logging.Handler | None = field(default=None, repr=False)
    _pump_thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> None:
        self.instance_id = f"{self.name}-{secrets.token_hex(4)}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.argv, env=self.env | {"PIGGY_INSTANCE_ID": self.instance_id},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        assert self.proc.stdout is not None
        self._pump_thread = threading.Thread(target=self._pump, args=(self.proc.stdout,),
                                             daemon=True, name=f"log-{self.name}")
        self._pump_thread.start()
        self.restart_at = None
        self.tracker.started(time.monotonic())

    def _handler(self) -> logging.Handler:
        if self._log is None:
            handler = logging.handlers.RotatingFileHandler(
                self.log_path, maxBytes=self.log_max_bytes, backupCount=self.log_backups,
                encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._log = handler
        return self._log

    def _pump(self, stream: IO[bytes]) -> None:
        handler = self._handler()
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                handler.emit(logging.makeLogRecord({"msg": line, "args": None}))

    def logs_flushed(self, timeout: float = 5.0) -> None:
        """Wait until everything the (exited) child wrote is in its log file."""
        if self._pump_thread is not None:
            self._pump_thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    def wait_or_kill(self, timeout: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self, timeout: float = 10.0) -> None:
        self.terminate()
        self.wait_or_kill(timeout)

    def healthy(self) -> tuple[bool, str]:
        if not self.alive:
            return False, "not running"
        return self.probe(self)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
