"""Is a loopback port free, and if not, which process holds it (from /proc, when it can tell)."""
from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable
from pathlib import Path

LISTEN = "0A"


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could bind ``host:port`` now (SO_REUSEADDR, as uvicorn and redis do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def listening_inodes(proc_net_tcp: str, port: int) -> set[str]:
    """Socket inodes listening on ``port`` in the text of /proc/net/tcp or tcp6."""
    inodes = set()
    for line in proc_net_tcp.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 10 or cols[3] != LISTEN:
            continue
        local_port = int(cols[1].rsplit(":", 1)[1], 16)
        if local_port == port:
            inodes.add(cols[9])
    return inodes


def pids_holding(inodes: set[str], proc: Path = Path("/proc")) -> list[int]:
    """Processes with an open fd on one of these socket inodes (only ours are visible to a user)."""
    wanted = {f"socket:[{i}]" for i in inodes}
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        found.append(int(entry.name))
                        break
    return sorted(found)


def listener_pids(port: int, proc: Path = Path("/proc")) -> list[int]:
    """Pids listening on ``port`` (empty when /proc is absent or they are not visible)."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            inodes |= listening_inodes((proc / "net" / table).read_text(), port)
    return pids_holding(inodes, proc) if inodes else []


def command_line(pid: int, proc: Path = Path("/proc")) -> str:
    try:
        raw = (proc / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:160]


def holder(port: int) -> str:
    """'pid 123 (python -m services.gateway)' or a sentence saying it can't tell."""
    pids = listener_pids(port)
    if not pids:
        return "a process this user can't see"
    return ", ".join(f"pid {pid} ({command_line(pid)})" for pid in pids)


def duplicates(wanted: Iterable[tuple[str, int]]) -> list[str]:
    """Two parts configured on the same port, as sentences."""
    seen: dict[int, str] = {}
    problems = []
    for name, port in wanted:
        if port in seen:
            problems.append(f"{seen[port]} and {name} are both configured on port {port}")
        else:
            seen[port] = name
    return problems
