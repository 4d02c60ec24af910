"""Redis ACL users, one per service, generated from the access table in ``shared/streams.py``.

Each service gets only what its row allows: consumer-group commands on the streams it
consumes, XADD on the streams it publishes to, range reads where it reads a stream, and plain
read or read/write commands on its key families (Redis 7 selectors keep each set of commands to
its own keys, so "XADD" on the intents stream does not mean XADD anywhere). The ``operator``
user (the ``piggy`` CLI, administration) may do everything; ``default`` is switched off.

Used by the embedded stack (``ACL SETUSER`` at start-up, ``apply``) and by docker-compose (a
generated ``users.acl``: ``python -m shared.redis_acl --out users.acl``; passwords from
``PIGGY_REDIS_PASSWORD_<SERVICE>``, written as SHA-256 hashes, never in clear).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from shared.streams import ACCESS, DIRECT_ROUTE_EXTRA, Access

OPERATOR = "operator"
SERVICES = tuple(ACCESS)

_BASE = ("resetkeys", "resetchannels", "-@all", "+@connection", "-@dangerous", "+multi",
         "+exec", "+discard", "+script|load")
_CONSUME = ("+xreadgroup", "+xack", "+xautoclaim", "+xclaim", "+xpending", "+xgroup|create",
            "+xinfo|stream", "+xinfo|groups", "+xlen")
_PUBLISH = ("+xadd",)
_READ_STREAMS = ("+xrange", "+xrevrange", "+xlen", "+xread")  # xread: following a stream
_WRITE = ("+@read", "+@write", "-@dangerous")
_READ = ("+@read", "-@dangerous")
_EVAL = ("+eval", "+evalsha")
_REPLIES = ("&*", "+publish", "+subscribe", "+unsubscribe", "+psubscribe", "+punsubscribe")


def access_for(service: str, *, direct_route: bool = False) -> Access:
    access = ACCESS[service]
    if service == "executor" and direct_route:
        return Access(consume=access.consume, publish=access.publish,
                      read_streams=access.read_streams,
                      write=access.write + DIRECT_ROUTE_EXTRA.write,
                      read=access.read + DIRECT_ROUTE_EXTRA.read, replies=access.replies)
    return access


def _selector(commands: tuple[str, ...], keys: tuple[str, ...], mode: str = "~") -> str:
    return "(" + " ".join([*commands, *(f"{mode}{k}" for k in keys)]) + ")"


def rules(access: Access) -> list[str]:
    """The ACL rules (without on/off and password) for one service's access."""
    out = list(_BASE)
    if access.replies:
        out += _REPLIES
    if access.consume:
        out.append(_selector(_CONSUME, access.consume))
    if access.publish:
        out.append(_selector(_PUBLISH, access.publish))
    if access.read_streams:
        out.append(_selector(_READ_STREAMS, access.read_streams, "%R~"))
    if access.write:
        out.append(_selector(_WRITE, access.write))
    if access.read:
        out.append(_selector(_READ, access.read, "%R~"))
    scripted = access.write + access.read  # EVAL declares its keys read-write; the commands
    if scripted:                            # inside a script are checked one by one
        out.append(_selector(_EVAL, scripted))
    return out


OPERATOR_RULES = ["resetkeys", "resetchannels", "~*", "&*", "+@all"]


@dataclass(frozen=True)
class AclUser:
    name: str
    password: str
    rules: tuple[str, ...]

    def setuser_args(self) -> list[str]:
        """Arguments of ``ACL SETUSER`` (the password in clear: only on the wire)."""
        return [self.name, "reset", "on", f">{self.password}", *self.rules]

    def file_line(self) -> str:
        """One ``users.acl`` line; the password as its SHA-256, never in clear."""
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        return " ".join(["user", self.name, "on", f"#{digest}", *self.rules])


def users(passwords: Mapping[str, str], *, direct_route: bool = False) -> list[AclUser]:
    """Every service user and the operator; ``passwords`` has one per name."""
    out = [AclUser(s, passwords[s], tuple(rules(access_for(s, direct_route=direct_route))))
           for s in SERVICES]
    out.append(AclUser(OPERATOR, passwords[OPERATOR], tuple(OPERATOR_RULES)))
    return out


def acl_file(acl_users: list[AclUser]) -> str:
    lines = [u.file_line() for u in acl_users] + ["user default off resetkeys -@all"]
    return "\n".join(lines) + "\n"


def apply(client: redis.Redis, acl_users: list[AclUser], *, default_off: bool) -> None:
    """Create (or reset) every user on a running Redis; ``default_off`` locks the
    password-less default user out (the last step: ``client`` must log in as a user above)."""
    for user in acl_users:
        client.execute_command("ACL", "SETUSER", *user.setuser_args())
    if default_off:
        client.execute_command("ACL", "SETUSER", "default", "off")


def configured_passwords(environ: Mapping[str, str]) -> dict[str, str]:
    """The passwords the environment sets: ``PIGGY_REDIS_PASSWORD_<NAME>``, and the operator's
    also as ``PIGGY_REDIS_PASSWORD`` when ``PIGGY_REDIS_USERNAME=operator`` (what the CLI uses)."""
    found = {n: environ.get(f"PIGGY_REDIS_PASSWORD_{n.upper()}", "").strip()
             for n in (*SERVICES, OPERATOR)}
    if environ.get("PIGGY_REDIS_USERNAME") == OPERATOR and not found[OPERATOR]:
        found[OPERATOR] = environ.get("PIGGY_REDIS_PASSWORD", "").strip()
    return {n: p for n, p in found.items() if p}


def env_passwords(environ: Mapping[str, str]) -> dict[str, str]:
    """``PIGGY_REDIS_PASSWORD_<NAME>`` for every service and the operator."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in (*SERVICES, OPERATOR):
        value = environ.get(f"PIGGY_REDIS_PASSWORD_{name.upper()}", "").strip()
        (found.__setitem__(name, value) if value else missing.append(name))
    if missing:
        raise SystemExit("set " + ", ".join(f"PIGGY_REDIS_PASSWORD_{m.upper()}" for m in missing))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Redis users.acl for docker-compose.")
    parser.add_argument("--out", default="users.acl")
    parser.add_argument("--direct-route", action="store_true",
                        help="the executor has its direct exchange path (reads the vault)")
    args = parser.parse_args(argv)
    text = acl_file(users(env_passwords(os.environ), direct_route=args.direct_route))
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    print(f"wrote {args.out}: users {', '.join((*SERVICES, OPERATOR))}; default off",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
