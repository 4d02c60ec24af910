"""Killing the Redis primary of a ``piggy up --ha`` stack mid-run and measuring the way back.

``PrimaryKiller`` is the ``restart_redis`` callable of ``bench.chaos.drive``: each call
SIGKILLs the process the sentinels name as primary, measures how long until they name
another (the failover), restarts the killed node as the supervisor would (it rejoins as a
replica of the new primary), waits until the new primary has that replica in sync (durable
writes wait for it: until then live orders are held back, never sent unprotected), and
measures for every service how long after the kill its ``/healthz`` (a PING through its
Sentinel-managed pool) answered healthy from the new primary.
"""
from __future__ import annotations

import signal
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.harness import LiveStack
from piggy.child import Child


@dataclass
class FailoverEvent:
    killed_port: int
    new_primary: int
    failover_s: float  # SIGKILL → the sentinels name another primary
    replica_back_s: float  # SIGKILL → the killed node replicates the new primary, in sync
    services_back_s: dict[str, float] = field(default_factory=dict)  # SIGKILL → healthy again


@dataclass
class PrimaryKiller:
    live: LiveStack
    events: list[FailoverEvent] = field(default_factory=list)
    timeout_s: float = 60.0

    def __call__(self) -> None:
        ha = self.live.stack.ha_redis
        assert ha is not None and ha.children
        port = ha.current_primary()
        assert port is not None, "no sentinel names a primary"
        victim = next(c for c in ha.children if c.port == port)
        assert victim.proc is not None
        services = [c for c in [*self.live.stack.children, *self.live.extra]
                    if c.health_url.endswith("/healthz")]
        killed = time.monotonic()
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(10)
        with ThreadPoolExecutor(max_workers=len(services) + 1) as pool:
            backs = {c.name: pool.submit(self._back, c, killed, port) for c in services}
            new = self._until(lambda: _other(ha.current_primary(), port), killed)
            failover = time.monotonic() - killed
            victim.start()  # the supervisor's restart: it rejoins as a replica
            self._until(lambda: ha.primary_replicas() >= 1 or None, killed)
            replica_back = time.monotonic() - killed
            services_back = {name: f.result() for name, f in backs.items()}
        self.events.append(FailoverEvent(port, new, round(failover, 2), round(replica_back, 2),
                                         services_back))

    def _until(self, probe: Any, since: float) -> Any:
        while time.monotonic() - since < self.timeout_s:
            try:
                found = probe()
            except Exception:  # noqa: BLE001 - the failover is under way: ask again
                found = None
            if found:
                return found
            time.sleep(0.05)
        raise TimeoutError(f"not back within {self.timeout_s:g}s of the primary's SIGKILL")

    def _back(self, child: Child, killed: float, old: int) -> float:
        """Seconds from the kill to the first healthy /healthz once the old primary is gone
        from the sentinels' answer (its PING then went to the new primary)."""
        ha = self.live.stack.ha_redis
        assert ha is not None
        self._until(lambda: _other(ha.current_primary(), old), killed)
        while time.monotonic() - killed < self.timeout_s:
            try:
                if httpx.get(child.health_url, timeout=1.0).status_code == 200:
                    return round(time.monotonic() - killed, 2)
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{child.name} not healthy within {self.timeout_s:g}s of the kill")

    def summary(self) -> dict[str, Any]:
        backs = [s for e in self.events for s in e.services_back_s.values()]
        return {"primary_kills": len(self.events),
                "failover_s": [e.failover_s for e in self.events],
                "replica_in_sync_s": [e.replica_back_s for e in self.events],
                "services_back_p50_s": round(statistics.median(backs), 2) if backs else None,
                "services_back_max_s": max(backs) if backs else None,
                "services_back_s": [e.services_back_s for e in self.events]}


def _other(primary: int | None, old: int) -> int | None:
    return primary if primary is not None and primary != old else None
