"""requirements.lock covers pyproject.toml: a fresh clone installs exactly what CI tested.

`make` installs the lock with hashes and the project without its dependencies, so a
dependency added to pyproject.toml without `make lock` would be missing from a fresh clone.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = PIN.match(line)
        if m:
            pins[canonicalize_name(m[1])] = Version(m[2])
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in [*project["dependencies"],
                                     *project["optional-dependencies"]["dev"]]]


def test_every_declared_dependency_is_pinned_in_the_lock_within_its_range() -> None:
    pins = locked()
    problems = []
    for req in declared():
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not in requirements.lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}: locked {version} does not satisfy {req.specifier}")
    assert not problems, "run `make lock`: " + "; ".join(problems)


def test_every_lock_line_carries_a_hash() -> None:
    text = (ROOT / "requirements.lock").read_text()
    entries = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [e.split()[0] for e in entries if PIN.match(e) and "--hash=sha256:" not in e]
    assert not unhashed, f"pinned without a hash: {unhashed}"


def test_quality_tools_are_pinned_exactly() -> None:
    dev = {canonicalize_name(r.name): r for r in declared()}
    for tool in ("ruff", "mypy"):
        spec = str(dev[tool].specifier)
        assert spec.startswith("==") and "," not in spec, f"{tool} must be pinned exactly: {spec}"
