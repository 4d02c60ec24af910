"""The access table in shared/streams.py is the spec of every service's Redis user: each
command the server knows (``COMMAND``, subcommands included) is asked with ``ACL DRYRUN`` for
every service user against every stream and every key family (and a key outside them), on a
real redis-server, and the answers must be exactly what the table names. Anything the server
allows that the table does not name fails, and so does anything the table names that the
server refuses."""
from __future__ import annotations

import fnmatch
from collections.abc import Iterator

import pytest
import redis

from shared import redis_acl, streams
from tests.support import acl_sweep
from tests.support.acl_sweep import Command

pytestmark = pytest.mark.integration

PASSWORDS = {n: f"sweep-{n}-password-0123456789" for n in (*redis_acl.SERVICES, redis_acl.OPERATOR)}


def key_families() -> list[str]:
    """Every KEY_* pattern of the table."""
    found: list[str] = []
    for name in dir(streams):
        value = getattr(streams, name)
        if name.startswith("KEY_"):
            found += [value] if isinstance(value, str) else list(value)
    return sorted(set(found))


def targets() -> list[str]:
    """One concrete key per stream and per key family, and keys no row names."""
    return [*sorted(streams.STREAMS), *(p.replace("*", "x") for p in key_families()),
            "piggy:unnamed", "somebody:else"]


def permits(tokens: tuple[str, ...], command: Command) -> bool:
    """What an ordered list of ``+name``/``-name``/``+@cat``/``-@cat`` words says of a command,
    the way Redis reads it (a container's name covers its subcommands)."""
    allowed = False
    for token in tokens:
        sign, word = token[0] == "+", token[1:]
        if word.startswith("@"):
            hit = word[1:] in command.categories
        else:
            hit = command.name == word or command.name.startswith(word + "|")
        if hit:
            allowed = sign
    return allowed


def _plus(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"+{n}" for n in names)


def expected(access: streams.Access, command: Command, key: str | None) -> bool:
    """The table's answer for one command on one key (None: a command without keys)."""
    if key is None:
        names = streams.CONNECTION + (streams.REPLIES if access.replies else ())
        return permits(_plus(names), command)

    def matches(patterns: tuple[str, ...]) -> bool:
        return any(fnmatch.fnmatchcase(key, p) for p in patterns)

    kinds = [(access.consume, _plus(streams.CONSUME)), (access.publish, _plus(streams.PUBLISH)),
             (access.read_streams, _plus(streams.FOLLOW)), (access.trim, _plus(streams.TRIM)),
             (access.awaits, _plus(streams.AWAIT)),
             (access.write, streams.KEY_WRITE + _plus(streams.SCRIPTS)),
             (access.read, streams.KEY_READ + _plus(streams.SCRIPTS))]
    return any(matches(patterns) and permits(tokens, command) for patterns, tokens in kinds)


@pytest.fixture
def admin(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.execute_command("ACL", "DELUSER", *PASSWORDS)
    client.close()


def sweep(admin: redis.Redis, service: str, access: streams.Access) -> list[str]:
    """Every (command, key) where the server and the table disagree, said in words."""
    commands = acl_sweep.commands(admin)
    asks = [(c, None) for c in commands if c.keyless]
    asks += [(c, k) for c in commands if not c.keyless for k in targets()]
    answers = acl_sweep.allowed(admin, service, asks)
    wrong = []
    for (command, key), server in zip(asks, answers, strict=True):
        if server != expected(access, command, key):
            verdict = "allowed but not in the table" if server else "in the table but refused"
            wrong.append(f"{service}: {' '.join(command.argv(key))} — {verdict}")
    return wrong


@pytest.mark.parametrize("direct", [False, True], ids=["executor-via-gateway", "direct-route"])
def test_every_command_on_every_key_is_what_the_table_says(admin: redis.Redis, direct: bool) -> None:
    redis_acl.apply(admin, redis_acl.users(PASSWORDS, direct_route=direct), default_off=False)
    wrong = [line for service in redis_acl.SERVICES
             for line in sweep(admin, service, redis_acl.access_for(service, direct_route=direct))]
    assert wrong == []


def test_what_the_sweep_found_closed(admin: redis.Redis) -> None:
    """The holes found by probing as each service user are shut: server-wide code, key
    names of other users, invalidation tracking, and consumer groups of streams followed."""
    redis_acl.apply(admin, redis_acl.users(PASSWORDS), default_off=False)
    probes = [["FUNCTION", "FLUSH"], ["FUNCTION", "LOAD", "#!lua name=x\n"], ["RANDOMKEY"],
              ["SCAN", "0", "MATCH", "piggy:vault:*"], ["KEYS", "*"], ["DBSIZE"],
              ["CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "piggy:vault:"],
              ["PFMERGE", "piggy:kill"]]
    for service in redis_acl.SERVICES:
        for probe in probes:
            answer = admin.execute_command("ACL", "DRYRUN", service, *probe)
            assert answer != b"OK", (service, probe)
    port = admin.connection_pool.connection_kwargs["port"]
    spy = redis.Redis(port=port, username="strategy", password=PASSWORDS["strategy"], protocol=3)
    with pytest.raises(redis.exceptions.NoPermissionError):  # HELLO 3 works; tracking does not
        spy.execute_command("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "piggy:vault:")
    spy.close()
    ack = ["XACK", streams.TRADES, "strategy", "1-0"]
    assert admin.execute_command("ACL", "DRYRUN", "notifier", *ack) != b"OK"  # follows, no group
    assert admin.execute_command("ACL", "DRYRUN", "strategy", *ack) == b"OK"


def test_which_group_each_service_may_touch() -> None:
    """Each stream read in a group is read by its owner's group (named like the service);
    where two services consume one stream in groups Redis can't keep either from the other's
    group: the table (SHARED_GROUPS) names each such stream, and nothing else shares one."""
    from services.credentials.handlers import GROUP as CREDENTIALS_GROUP
    from services.executor.app import GROUP as EXECUTOR_GROUP
    from services.notifier.handlers import GROUP as NOTIFIER_GROUP
    from services.strategy.handlers import GROUP as STRATEGY_GROUP

    assert (CREDENTIALS_GROUP, EXECUTOR_GROUP, NOTIFIER_GROUP, STRATEGY_GROUP) == (
        "credentials", "executor", "notifier", "strategy")
    consumers = streams.group_consumers()
    shared = {s: c for s, c in consumers.items() if len(c) > 1}
    assert shared == streams.SHARED_GROUPS  # the table names every shared stream
    assert consumers[streams.CONTROL] == consumers[streams.DEAD_LETTER] == ("notifier",)
    for stream in (streams.TRADES, streams.CREDENTIALS):  # followed by the notifier: no group
        assert "notifier" not in consumers[stream]
