"""A real PostgreSQL for the books' tests: Debian's binaries, never a fake, nothing pulled.

``initdb`` and ``postgres`` run as the ``postgres`` OS user (PostgreSQL refuses root) in a
temporary folder, listening on a free loopback port only (no Unix socket in /var/run), with a
password login (so the tests see the URL masked). Stopped by its own pid (SIGINT: fast
shutdown), its folder removed. ``PIGGY_TEST_PG_BIN`` points at another binaries folder.
"""
from __future__ import annotations

import itertools
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Self

import psycopg

from tests.support.redis_server import free_port, pid_alive

DEFAULT_BIN = "/usr/lib/postgresql/15/bin"
OS_USER = "postgres"
ROLE = "piggy"


def pg_bin() -> Path:
    return Path(os.environ.get("PIGGY_TEST_PG_BIN") or DEFAULT_BIN)


def available() -> tuple[bool, str]:
    """Whether a PostgreSQL can be started here, and if not why."""
    if not (pg_bin() / "postgres").exists():
        return False, f"no PostgreSQL binaries in {pg_bin()} (apt-get install postgresql)"
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        return False, f"no {OS_USER!r} OS user to run PostgreSQL as"
    return True, ""


class PostgresServer:
    """One PostgreSQL cluster; ``new_database()`` gives each test an empty database."""

    def __init__(self) -> None:
        self.port = 0
        self.password = "pg-" + secrets.token_hex(12)
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)

    def _as_postgres(self) -> dict[str, object]:
        entry = pwd.getpwnam(OS_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 30.0) -> Self:
        self.dir = Path(tempfile.mkdtemp(prefix="piggy-pg-"))
        entry = pwd.getpwnam(OS_USER)
        os.chown(self.dir, entry.pw_uid, entry.pw_gid)
        data, pwfile = self.dir / "data", self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        subprocess.run([str(pg_bin() / "initdb"), "-D", str(data), "-U", ROLE,
                        f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                        "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, cwd=self.dir, **self._as_postgres())  # type: ignore[call-overload]
        self.port = free_port()
        self.proc = subprocess.Popen(
            [str(pg_bin() / "postgres"), "-D", str(data), "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.dir}",
             "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=(self.dir / "server.log").open("wb"),
            cwd=self.dir, **self._as_postgres())  # type: ignore[call-overload]
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url("postgres", driver=False), connect_timeout=2):
                    return self
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.dir / "server.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"PostgreSQL did not start: {log}") from None
                time.sleep(0.1)

    def url(self, database: str, *, driver: bool = True, password: str | None = None) -> str:
        scheme = "postgresql+psycopg" if driver else "postgresql"
        return (f"{scheme}://{ROLE}:{password or self.password}@127.0.0.1:{self.port}/{database}")

    def new_database(self) -> str:
        """An empty database; its SQLAlchemy URL (``postgresql://``, psycopg 3)."""
        name = f"books_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres", driver=False), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name, driver=False)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is not None and pid_alive(self.proc.pid):
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
