"""Print the part of requirements.lock the services need at run time (no dev tools).

The closure of the project's own dependencies (extras included, environment markers
evaluated), walked through the installed distributions' metadata: run it with the venv
`make` installed from the same lock. Every line keeps its hashes, so the image installs
exactly what CI tested, with `pip install --require-hashes`.

    python -m scripts.image_requirements --without streamlit   # the services' image
    python -m scripts.image_requirements --only streamlit      # what the dashboard adds
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "cryptopiggy"


def runtime_closure(project: str = PROJECT, without: frozenset[str] = frozenset()) -> set[str]:
    """Every distribution the project needs, leaving out its direct requirements ``without``
    (and whatever only they need)."""
    seen: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [(project, frozenset())]
    while todo:
        name, extras = todo.pop()
        dist = metadata.distribution(name)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is not None and not any(
                    req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            key = canonicalize_name(req.name)
            if name == project and key in without:
                continue
            if key not in seen or req.extras:
                seen.add(key)
                todo.append((req.name, frozenset(req.extras)))
    return seen


def lock_blocks(text: str) -> dict[str, str]:
    """requirements.lock split into one block per pinned package (the pin and its hashes)."""
    blocks: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", block)
        if m:
            pin = "\n".join(ln for ln in block.splitlines() if not ln.lstrip().startswith("#"))
            blocks[canonicalize_name(m[1])] = pin.rstrip(" \\\n")
    return blocks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--without", action="append", default=[],
                        help="leave out this direct requirement and what only it needs")
    parser.add_argument("--only", action="append", default=[],
                        help="just what this direct requirement adds to the rest")
    args = parser.parse_args(argv)
    blocks = lock_blocks((ROOT / "requirements.lock").read_text())
    if args.only:
        rest = runtime_closure(without=frozenset(canonicalize_name(n) for n in args.only))
        needed = sorted(runtime_closure() - rest)
    else:
        needed = sorted(runtime_closure(
            without=frozenset(canonicalize_name(n) for n in args.without)))
    absent = [n for n in needed if n not in blocks]
    if absent:
        print(f"not in requirements.lock (run `make lock`): {absent}", file=sys.stderr)
        return 1
    print("\n".join(blocks[n] for n in needed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
