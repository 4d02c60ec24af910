"""Redis ACL users, one per service, generated from the access table in ``shared/streams.py``.

Each service gets only what its row allows: consumer-group commands on the streams it
consumes, XADD on the streams it publishes to, range reads where it reads a stream, and plain
read or read/write commands on its key families (Redis 7 selectors keep each set of commands to
its own keys, so "XADD" on the intents stream does not mean XADD anywhere). The ``operator``
user (the ``piggy`` CLI, administration) may do everything; ``default`` is switched off.

Used by the embedded stack (``ACL SETUSER`` at start-up, ``apply``) and by docker-compose (a
generated ``users.acl``: ``make users.acl``, i.e. ``python -m shared.redis_acl --env-file .env
--out users.acl``; passwords from ``PIGGY_REDIS_PASSWORD_<SERVICE>`` in the environment or in
``.env``, where missing ones are generated; in ``users.acl`` only as SHA-256 hashes). The file
also has ``health``, a password-less user that may only PING (the container healthcheck).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import redis

from shared import streams
from shared.files import write_private
from shared.streams import ACCESS, DIRECT_ROUTE_EXTRA, Access

OPERATOR = "operator"
HEALTH_LINE = "user health on nopass resetkeys resetchannels -@all +ping"
SERVICES = tuple(ACCESS)

_BASE = ("resetkeys", "resetchannels", "-@all", *(f"+{c}" for c in streams.CONNECTION))
_CONSUME = tuple(f"+{c}" for c in streams.CONSUME)
_PUBLISH = tuple(f"+{c}" for c in streams.PUBLISH)
_READ_STREAMS = tuple(f"+{c}" for c in streams.FOLLOW)
_WRITE = streams.KEY_WRITE
_READ = streams.KEY_READ
_EVAL = tuple(f"+{c}" for c in streams.SCRIPTS)
_REPLIES = ("&*", *(f"+{c}" for c in streams.REPLIES))
_TRIM = tuple(f"+{c}" for c in streams.TRIM)
_AWAIT = tuple(f"+{c}" for c in streams.AWAIT)


def access_for(service: str, *, direct_route: bool = False) -> Access:
    access = ACCESS[service]
    if service == "executor" and direct_route:
        return Access(consume=access.consume, publish=access.publish,
                      read_streams=access.read_streams,
                      write=access.write + DIRECT_ROUTE_EXTRA.write,
                      read=access.read + DIRECT_ROUTE_EXTRA.read, replies=access.replies,
                      trim=access.trim, awaits=access.awaits)
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
    if access.trim:
        out.append(_selector(_TRIM, access.trim))
    if access.awaits:
        out.append(_selector(_AWAIT, access.awaits, "%R~"))
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
    lines = [u.file_line() for u in acl_users] + [HEALTH_LINE, "user default off resetkeys -@all"]
    return "\n".join(lines) + "\n"


def apply(client: redis.Redis, acl_users: list[AclUser], *, default_off: bool) -> None:
    """Create (or reset) every user on a running Redis; ``default_off`` locks the
    password-less default user out (the last step: ``client`` must log in as a user above)."""
    for user in acl_users:
        client.execute_command("ACL", "SETUSER", *user.setuser_args())
    if default_off:
        client.execute_command("ACL", "SETUSER", "default", "off")


def password_variable(name: str) -> str:
    return f"PIGGY_REDIS_PASSWORD_{name.upper()}"


def configured_passwords(environ: Mapping[str, str]) -> dict[str, str]:
    """The passwords the environment sets: ``PIGGY_REDIS_PASSWORD_<NAME>``, and the operator's
    also as ``PIGGY_REDIS_PASSWORD`` when ``PIGGY_REDIS_USERNAME=operator`` (what the CLI uses)."""
    found = {n: environ.get(password_variable(n), "").strip()
             for n in (*SERVICES, OPERATOR)}
    if environ.get("PIGGY_REDIS_USERNAME") == OPERATOR and not found[OPERATOR]:
        found[OPERATOR] = environ.get("PIGGY_REDIS_PASSWORD", "").strip()
    return {n: p for n, p in found.items() if p}


def env_file_values(text: str) -> dict[str, str]:
    """``NAME=value`` lines of a compose ``.env`` file (comments and blanks skipped)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            out[name.strip()] = value.strip().strip("'\"")
    return out


def ensure_env_file(path: Path, environ: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Every service's and the operator's password: from ``environ``, else from the ``.env``
    file at ``path``, else generated and appended there (the file is kept 0600). Returns the
    values and the names of the generated ones."""
    known = env_file_values(path.read_text()) if path.exists() else {}
    values = dict(known) | {k: v for k, v in environ.items() if k.startswith("PIGGY_REDIS_PASSWORD_")}
    added = [password_variable(n) for n in (*SERVICES, OPERATOR)
             if not values.get(password_variable(n), "").strip()]
    if added:
        new = {name: secrets.token_urlsafe(24) for name in added}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            if path.stat().st_size and not path.read_text().endswith("\n"):
                fh.write("\n")
            fh.writelines(f"{name}={value}\n" for name, value in new.items())
        values |= new
    os.chmod(path, 0o600)
    return values, added


def env_passwords(environ: Mapping[str, str]) -> dict[str, str]:
    """``PIGGY_REDIS_PASSWORD_<NAME>`` for every service and the operator."""
    found: dict[str, str] = {}
    missing: list[str] = []
    for name in (*SERVICES, OPERATOR):
        value = environ.get(password_variable(name), "").strip()
        (found.__setitem__(name, value) if value else missing.append(name))
    if missing:
        raise SystemExit("set " + ", ".join(password_variable(m) for m in missing))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the Redis users.acl for docker-compose.")
    parser.add_argument("--out", default="users.acl")
    parser.add_argument("--env-file", type=Path, default=None,
                        help="read the passwords from this compose .env file as well, and "
                             "append the missing ones there, generated")
    parser.add_argument("--direct-route", action="store_true",
                        help="the executor has its direct exchange path (reads the vault)")
    args = parser.parse_args(argv)
    environ: Mapping[str, str] = os.environ
    if args.env_file is not None:
        environ, added = ensure_env_file(args.env_file, os.environ)
        if added:
            print(f"generated {', '.join(added)} in {args.env_file}", file=sys.stderr)
    text = acl_file(users(env_passwords(environ), direct_route=args.direct_route))
    write_private(Path(args.out), text)
    print(f"wrote {args.out}: users {', '.join((*SERVICES, OPERATOR))}, health (PING only); "
          "default off",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
