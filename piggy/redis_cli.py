"""``piggy redis status`` and ``piggy redis failover``: the Sentinel setup the CLI is pointed at
(``PIGGY_REDIS_SENTINELS``, or a running ``piggy up --ha``)."""
from __future__ import annotations

import time
from typing import Any

import redis
import typer

from piggy import output
from piggy.client import redis_url
from shared import redis_conn

app = typer.Typer(help="Redis behind Sentinel: where the primary is, and a failover.",
                  no_args_is_help=True)


def _target() -> redis_conn.SentinelTarget:
    url = redis_url()
    if not redis_conn.is_sentinel(url):
        output.fail("Redis is not behind Sentinel here: set PIGGY_REDIS_SENTINELS (and "
                    "PIGGY_REDIS_MASTER), or start the stack with `piggy up --ha`", output.USAGE)
    return redis_conn.parse_sentinel(url)


def _ask(target: redis_conn.SentinelTarget, *command: Any) -> tuple[tuple[str, int], Any]:
    """``command`` on the first sentinel that answers; (that sentinel, its reply)."""
    errors = []
    kw = target.sentinel_kwargs()
    for host, port in target.sentinels:
        try:
            with redis.Redis(host=host, port=port, decode_responses=True, **kw) as client:
                return (host, port), client.execute_command(*command)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            errors.append(f"{host}:{port} {type(exc).__name__}")
        except redis.ResponseError as exc:
            output.fail(f"sentinel {host}:{port} refused {command[0]} {command[1]}: {exc}")
    output.fail("no sentinel answered: " + ", ".join(errors))


def primary(target: redis_conn.SentinelTarget) -> str:
    _s, addr = _ask(target, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", target.master)
    if not addr:
        output.fail(f"the sentinels do not know a master called {target.master!r} "
                    "(PIGGY_REDIS_MASTER)")
    return f"{addr[0]}:{addr[1]}"


@app.command()
def status() -> None:
    """The primary the sentinels name, its replicas and how many sentinels watch it."""
    target = _target()
    where, state = _ask(target, "SENTINEL", "MASTER", target.master)
    info = dict(zip(state[::2], state[1::2], strict=False)) if isinstance(state, list) else state
    _w, replicas = _ask(target, "SENTINEL", "REPLICAS", target.master)
    output.out().print(f"master {target.master!r}: primary {info.get('ip')}:{info.get('port')} "
                       f"({info.get('flags')}), {info.get('num-slaves')} replica(s), "
                       f"{int(info.get('num-other-sentinels', 0)) + 1} sentinel(s); "
                       f"asked {where[0]}:{where[1]}", highlight=False)
    for row in replicas or []:
        r = dict(zip(row[::2], row[1::2], strict=False)) if isinstance(row, list) else row
        output.out().print(f"  replica {r.get('ip')}:{r.get('port')} ({r.get('flags')}), "
                           f"link {r.get('master-link-status')}", highlight=False)


def _demote(target: redis_conn.SentinelTarget, old: str, new: str) -> None:
    """The old primary follows the new one now, not in ~8 s when Sentinel would: until then
    it takes (and later drops) writes from clients still connected to it."""
    host, _, port = old.rpartition(":")
    new_host, _, new_port = new.rpartition(":")
    try:
        with redis.Redis(host=host, port=int(port), socket_timeout=2.0,
                         **target.data_kwargs()) as node:
            node.execute_command("REPLICAOF", new_host, int(new_port))
            node.execute_command("CONFIG", "REWRITE")  # a restart comes back as a replica
        output.out().print(f"old primary {old} now replicates {new}", highlight=False)
    except (redis.RedisError, OSError) as exc:
        output.out().print(f"old primary {old} not reached ({type(exc).__name__}); the sentinels "
                           "will make it a replica", highlight=False)


@app.command()
def failover(timeout: float = typer.Option(30.0, help="seconds to wait for the new primary")) -> None:
    """Make the sentinels promote the replica (SENTINEL FAILOVER) and wait until they name it:
    the services follow it by themselves. Needs the operator's login (ACL)."""
    target = _target()
    before = primary(target)
    began = time.monotonic()
    where, _ok = _ask(target, "SENTINEL", "FAILOVER", target.master)
    output.out().print(f"failover of {target.master!r} asked of sentinel {where[0]}:{where[1]}; "
                       f"primary was {before}", highlight=False)
    while time.monotonic() - began < timeout:
        now = primary(target)
        if now != before:
            output.out().print(f"new primary {now} after {time.monotonic() - began:.1f}s",
                               highlight=False)
            _demote(target, before, now)
            return
        time.sleep(0.2)
    output.fail(f"the sentinels still name {before} after {timeout:g}s")
