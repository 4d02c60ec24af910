"""When to restart a child: exponential backoff, a restart budget per time window, hung detection.

Pure decisions over an injected clock value (``now``, seconds); no I/O, so it is unit-tested
without processes. The stack feeds it exits and health probe results and acts on the answers.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    backoff_s: float = 0.5  # delay before the first restart; doubled for each one after
    backoff_max_s: float = 30.0
    budget: int = 5  # at most this many restarts ...
    window_s: float = 300.0  # ... within this many seconds, else the child is given up
    hung_after_s: float = 30.0  # health failing this long (while running) → restart
    stable_after_s: float = 30.0  # healthy this long after a start → backoff starts over


@dataclass(frozen=True)
class Restart:
    delay_s: float
    used: int  # restarts in the current window, this one included

    def describe(self, policy: RestartPolicy) -> str:
        return (f"restarting in {self.delay_s:g}s ({self.used} of {policy.budget} restarts "
                f"allowed in {policy.window_s:g}s)")


@dataclass(frozen=True)
class GiveUp:
    reason: str


@dataclass
class RestartTracker:
    """One child's restart history; every method takes the current time."""

    policy: RestartPolicy = field(default_factory=RestartPolicy)
    restarts: list[float] = field(default_factory=list)
    consecutive: int = 0  # restarts since the child last ran stably
    started_at: float = 0.0
    unhealthy_since: float | None = None

    def started(self, now: float) -> None:
        self.started_at = now
        self.unhealthy_since = None

    def on_exit(self, now: float) -> Restart | GiveUp:
        """The child died (or was stopped as hung): restart it after a delay, or give up."""
        p = self.policy
        self.restarts = [t for t in self.restarts if t > now - p.window_s]
        if len(self.restarts) >= p.budget:
            return GiveUp(f"{len(self.restarts)} restarts in the last {p.window_s:g}s "
                          f"(budget {p.budget}); not restarting")
        delay = min(p.backoff_max_s, p.backoff_s * 2 ** self.consecutive)
        self.consecutive += 1
        self.restarts.append(now)
        return Restart(delay, len(self.restarts))

    def on_health(self, healthy: bool, now: float) -> bool:
        """Record a probe; True when the child has been unhealthy for ``hung_after_s``."""
        if healthy:
            self.unhealthy_since = None
            if now - self.started_at >= self.policy.stable_after_s:
                self.consecutive = 0
            return False
        if self.unhealthy_since is None:
            self.unhealthy_since = now
        return now - self.unhealthy_since >= self.policy.hung_after_s
