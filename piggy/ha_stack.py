"""The launcher's side of ``piggy up --ha``: start the HA Redis (``piggy.ha_redis``) as
supervised children of a ``Stack``, and say where it is for the CLI (``active_url``)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from piggy.ha_redis import HaError, HaPorts, HaRedis

if TYPE_CHECKING:
    from piggy.stack import Stack

ACTIVE = "active"  # <home>/redis-ha/active: the last `piggy up` here was --ha (its URL inside)


def ha_root(home: Path) -> Path:
    return home / "redis-ha"


def start_ha(stack: Stack, ports: HaPorts, deadline: float) -> str:
    """Start both data nodes, then the sentinels, wait until the primary has a replica in
    sync and the sentinels know each other; returns the Sentinel URL."""
    from piggy.stack import StackError

    users = stack._acl_users() if stack.acl else None
    ha = HaRedis(ha_root(stack.home), ports, stack._child, acl_users=users)
    stack.ha_redis = ha
    try:
        children = ha.plan()
        for child in children:
            child.start()
            stack._wait_healthy([child], deadline)
            assert child.proc is not None
            stack.say(f"{child.name:<11} started (pid {child.proc.pid}) on port {child.port}")
        ha.apply_sentinel_users()
        ha.wait_replicated(max(1.0, deadline - time.monotonic()))
    except HaError as exc:
        raise StackError(str(exc)) from exc
    (ha.root / ACTIVE).write_text(ha.url + "\n")
    stack.say(f"redis       HA: primary, replica and 3 sentinels (master {ha.url.split('/')[-2]!r}) "
              f"at {ha.url}; data in {ha.root}")
    return ha.url


def stop_ha(stack: Stack) -> None:
    """Sentinels first (so none starts a failover while the nodes stop), then the nodes."""
    assert stack.ha_redis is not None
    for child in reversed(stack.ha_redis.children or []):
        if child.proc is not None:
            child.stop(10.0)
    forget_ha(stack.home)
    stack.say("redis       HA stopped")


def forget_ha(home: Path) -> None:
    (ha_root(home) / ACTIVE).unlink(missing_ok=True)


def active_url(home: Path) -> str | None:
    """The Sentinel URL of a `piggy up --ha` running from ``home``, if there is one."""
    path = ha_root(home) / ACTIVE
    return path.read_text().strip() if path.exists() else None
