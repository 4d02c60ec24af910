"""Sweep a Redis server's ACL: every command of ``COMMAND`` (subcommands included) asked with
``ACL DRYRUN`` for one user against one key, answered by the server itself.

Arguments are built from each command's own key positions (``COMMAND INFO``): the key goes
where the command takes keys, ``0`` everywhere else, as many as its arity asks. Commands whose
keys move (``movablekeys``: after a keyword or a count) get their argument shape from
``MOVABLE``. A command with no key is asked once (target ``None``).
"""
from __future__ import annotations

from dataclasses import dataclass

import redis

# argv after the command name for commands whose keys follow a keyword or a count; ``K`` is
# replaced by the key.
K = "\0key"
MOVABLE: dict[str, tuple[str, ...]] = {
    "xread": ("STREAMS", K, "0"),
    "xreadgroup": ("GROUP", "g", "c", "STREAMS", K, "0"),
    "eval": ("return 1", "1", K), "eval_ro": ("return 1", "1", K),
    "evalsha": ("0" * 40, "1", K), "evalsha_ro": ("0" * 40, "1", K),
    "fcall": ("f", "1", K), "fcall_ro": ("f", "1", K),
    "sort": (K,), "sort_ro": (K,),
    "zunion": ("1", K), "zinter": ("1", K), "zdiff": ("1", K), "zintercard": ("1", K),
    "zunionstore": (K, "1", K), "zinterstore": (K, "1", K), "zdiffstore": (K, "1", K),
    "sintercard": ("1", K), "lmpop": ("1", K, "LEFT"), "blmpop": ("0", "1", K, "LEFT"),
    "zmpop": ("1", K, "MIN"), "bzmpop": ("0", "1", K, "MIN"),
    "migrate": ("h", "1", K, "0", "0"),
    "georadius": (K, "0", "0", "1", "m"), "georadiusbymember": (K, "m", "1", "m"),
    "georadius_ro": (K, "0", "0", "1", "m"), "georadiusbymember_ro": (K, "m", "1", "m"),
}


@dataclass(frozen=True)
class Command:
    name: str  # "get", "client|tracking"
    arity: int
    first: int
    last: int
    step: int
    movable: bool
    categories: frozenset[str]

    @property
    def keyless(self) -> bool:
        return self.first == 0 and not self.movable

    def argv(self, key: str | None) -> list[str]:
        words = self.name.split("|")
        if self.movable and self.name in MOVABLE:
            return [*words, *(key or "k" if a == K else a for a in MOVABLE[self.name])]
        n = max(abs(self.arity), len(words), self.first + 1 if self.first else 0)
        if self.last > 0:
            n = max(n, self.last + 1)
        argv = [*words, *(["0"] * (n - len(words)))]
        if self.first and key is not None:
            last = self.last if self.last >= 0 else n + self.last
            for pos in range(self.first, last + 1, max(self.step, 1)):
                argv[pos] = key
        return argv


def _command(name: str, arity: int, first: int, last: int, step: int, flags: list[str],
             categories: list[str]) -> Command:
    return Command(name.lower(), int(arity), int(first), int(last), int(step),
                   "movablekeys" in flags, frozenset(c.lstrip("@").lower() for c in categories))


def commands(client: redis.Redis) -> list[Command]:
    """Every command and subcommand the server knows, from ``COMMAND``."""
    found: list[Command] = []
    for name, info in client.command().items():
        subs = info.get("subcommands") or []
        if not subs:
            found.append(_command(name, info["arity"], info["first_key_pos"], info["last_key_pos"],
                                  info["step_count"], info["flags"], info["acl_categories"]))
        for sub in subs:
            found.append(_command(_text(sub[0]), sub[1], sub[3], sub[4], sub[5],
                                  [_text(f) for f in sub[2]], [_text(c) for c in sub[6]]))
    return found


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def allowed(client: redis.Redis, user: str, asks: list[tuple[Command, str | None]]) -> list[bool]:
    """``ACL DRYRUN`` of each (command, key) for ``user``, pipelined: True when it says OK."""
    pipe = client.pipeline(transaction=False)
    for command, key in asks:
        pipe.execute_command("ACL", "DRYRUN", user, *command.argv(key))
    return [answer in (b"OK", "OK", True) for answer in pipe.execute(raise_on_error=False)]
