"""``piggy logs``: one intent's story across every service's log file, in time order.

Reads ``<home>/logs/*.log`` and rotated copies (``*.log.1``…). JSON lines are matched on
their ``correlation_id`` field; text lines (``PIGGY_LOG_FORMAT=text``) on ``corr=ID``. Lines
that are neither (a traceback's continuation, a child's plain output) are skipped.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_ROTATED = re.compile(r"\.log(\.\d+)?$")


@dataclass(frozen=True)
class Line:
    ts: str
    service: str
    level: str
    message: str
    source: str

    def render(self) -> str:
        return f"{self.ts} {self.service:<11} {self.level:<7} {self.message}"


def log_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and _ROTATED.search(p.name))


def parse(raw: str, correlation_id: str, source: str) -> Line | None:
    """The line, if it belongs to ``correlation_id``."""
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            rec = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(rec, dict) or rec.get("correlation_id") != correlation_id:
            return None
        ids = " ".join(f"{k}={rec[k]}" for k in ("intent_id", "user_id") if rec.get(k))
        return Line(str(rec.get("ts", "")), str(rec.get("service") or source),
                    str(rec.get("level", "")), f"{rec.get('message', '')}  [{ids}]" if ids
                    else str(rec.get("message", "")), source)
    if f"corr={correlation_id}" in raw:
        parts = raw.split(None, 3)
        if len(parts) == 4:
            return Line(parts[0], parts[2], parts[1], parts[3], source)
    return None


def story(lines: Iterable[tuple[str, str]], correlation_id: str) -> list[Line]:
    """(source, raw line) pairs → the matching lines, oldest first."""
    found = [ln for source, raw in lines if (ln := parse(raw, correlation_id, source))]
    return sorted(found, key=lambda ln: ln.ts)


def read_lines(files: Iterable[Path]) -> Iterator[tuple[str, str]]:
    for path in files:
        source = _ROTATED.sub("", path.name)
        with path.open(errors="replace") as fh:
            for raw in fh:
                yield source, raw
