"""py-spy's collapsed stacks (``--format raw``) → the top entries of a profile, as text.

Each raw line is one distinct stack, root first, frames ``function (file:line)`` joined by
``;``, then a space and how many samples had it. Functions are counted without their line
number: *own* samples are those where the function is the innermost frame (where the CPU
was), *total* those where it is anywhere on the stack (counted once per sample, recursion or
not). The innermost frames are also summed by package (the first part of the file's path as
py-spy shortens it: ``faststream``, ``redis``, ``pydantic``, ``asyncio``, ``services``…),
which is how "a third of it faststream's machinery" is read off a profile.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

NO_FRAME = "(no Python frame)"
FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


# Innermost frames that are the event loop itself, not work: uvloop runs its loop in C under
# ``Runner.run`` (libuv's I/O and callbacks, or a woken process waiting for a CPU), the default
# loop waits in ``select``.
LOOP_LEAVES = frozenset({"Runner.run", "BaseEventLoop.run_forever",
                         "BaseEventLoop.run_until_complete", "EpollSelector.select",
                         "BaseSelector.select", "select"})
# The frames under every stack of a service (interpreter start, uvicorn, the loop, a thread's
# start): left out of *total*, where they would head every list at ~100 %.
ROOT_NAMES = frozenset({"_run_module_as_main", "_run_code", "<module>", "serve", "Server.run",
                        "Server.serve", "asyncio_run", "Runner.run", "BaseEventLoop.run_forever",
                        "BaseEventLoop.run_until_complete", "BaseEventLoop._run_once",
                        "Handle._run", "Thread._bootstrap", "Thread._bootstrap_inner",
                        "Thread.run"})


@dataclass(frozen=True)
class Top:
    """A profile's samples and its heaviest functions and packages, heaviest first. ``loop``:
    samples whose innermost frame is the event loop itself; ``work``: the others, which the
    lists are over."""

    samples: int
    loop: int
    own: list[tuple[str, int]]
    total: list[tuple[str, int]]
    packages: list[tuple[str, int]]

    @property
    def work(self) -> int:
        return self.samples - self.loop


def parse_collapsed(text: str) -> list[tuple[list[str], int]]:
    """(frames root first, samples) per line; blank lines skipped. A line of a count alone is
    samples of a thread with no Python frame (``NO_FRAME``); a line without a sample count is
    an error naming the line."""
    out: list[tuple[list[str], int]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            raise ValueError(f"line {number} is not 'frame;frame;... samples': {line[:120]!r}")
        out.append((stack.split(";") if stack.strip() else [NO_FRAME], int(count)))
    return out


def function_of(frame: str) -> str:
    """``name (file:line)`` → ``name (file)``; anything else as it is."""
    m = FRAME.match(frame)
    return f"{m['name']} ({m['file']})" if m else frame


def package_of(frame: str) -> str:
    """The top-level package or module of the frame's file (``faststream/broker/x.py`` →
    ``faststream``, ``selectors.py`` → ``selectors``, a full path → its last two parts' first)."""
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m["file"].replace("\\", "/")
    if "site-packages/" in path:
        path = path.rsplit("site-packages/", 1)[1]
    elif path.startswith("/"):
        path = "/".join(path.split("/")[-2:])
    first = path.split("/", 1)[0]
    return first[:-3] if first.endswith(".py") else first


def name_of(frame: str) -> str:
    """``name (file:line)`` → ``name``."""
    m = FRAME.match(frame)
    return m["name"] if m else frame


def top(stacks: list[tuple[list[str], int]], n: int = 10) -> Top:
    """The ``n`` heaviest functions by own and by total samples and packages by own samples,
    over the work samples; the root frames (``ROOT_NAMES``) are left out of *total*."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    samples = loop = 0
    for frames, count in stacks:
        samples += count
        leaf = frames[-1]
        if name_of(leaf) in LOOP_LEAVES:
            loop += count
            continue
        own[function_of(leaf)] += count
        packages[package_of(leaf)] += count
        for name in {function_of(f) for f in frames if name_of(f) not in ROOT_NAMES}:
            total[name] += count
    return Top(samples, loop, own.most_common(n), total.most_common(n), packages.most_common(n))


def render(title: str, t: Top) -> str:
    """The top entries as plain text (what ``bench/profiles/top-*.txt`` hold); percentages
    are of the work samples."""
    def pct(k: int) -> str:
        return f"{100 * k / t.work:5.1f} %" if t.work else "  -  "

    def rows(entries: list[tuple[str, int]]) -> list[str]:
        return [f"  {pct(k)}  {k:6d}  {name}" for name, k in entries]

    share = f"{100 * t.loop / t.samples:.0f} %" if t.samples else "-"
    lines = [title, f"{t.samples} samples of a running or runnable thread; {t.loop} ({share}) in "
             "the event loop itself (uvloop's C code, or waiting for a CPU),",
             f"{t.work} of Python work, which the percentages below are of.", "",
             "own samples (the innermost frame: where the CPU was):", *rows(t.own), "",
             "total samples (anywhere on the stack; the root frames left out):", *rows(t.total),
             "", "own samples by package:", *rows(t.packages)]
    return "\n".join(lines) + "\n"
