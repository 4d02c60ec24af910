"""How the CLI writes: data to stdout (never wrapped when piped), errors as one line to stderr.

On a terminal, rich colours and tables; piped, plain text: no colour, no line wrapping, and
tables as tab-separated rows with a header line, so ``piggy trades | cut -f2`` works.

With ``--json`` (``json_mode(True)``, set by the command) stdout holds exactly one JSON
document in every branch: words for a person go to stderr (``human()``), and ``fail`` writes
``{"ok": false, "error": …, "exitCode": …}`` to stdout as well as its line on stderr.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

# exit codes, also listed in `piggy --help`
OK, FAILED, USAGE, REFUSED = 0, 1, 2, 3
EXIT_CODES = (
    f"Exit codes: {OK} done; {FAILED} failed (Redis, the API or the exchange unreachable, not "
    f"found, the stack could not start, no outcome in time); {USAGE} bad usage or configuration "
    f"(option, config file, setting, API token); {REFUSED} refused by a rule (order rejected, "
    "key not validated, live not armed)."
)


_mode = {"json": False}


def json_mode(on: bool) -> None:
    """Set by each invocation (the root callback resets it; ``--json`` commands set it)."""
    _mode["json"] = on


def is_json() -> bool:
    return _mode["json"]


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    return Console(file=stream, soft_wrap=not tty, highlight=False,
                   width=None if tty else 100_000, no_color=not tty)


def out() -> Console:
    return _console()


def err() -> Console:
    return _console(stderr=True)


def human() -> Console:
    """Where words for a person go: stdout, or stderr when stdout is for JSON."""
    return _console(stderr=is_json())


def say(text: str) -> None:
    human().print(text)


def error(message: str) -> None:
    """``error: <message>`` as one line on stderr (the message as plain text, never markup)."""
    err().print(Text.assemble(("error: ", "red"), message))


def fail(message: str, code: int = FAILED, data: dict[str, Any] | None = None) -> NoReturn:
    """One line on stderr (and, with ``--json``, the JSON answer with ``data`` on stdout), then
    exit with ``code``."""
    error(message)
    if is_json():
        emit_json({"ok": False, "error": message, "exitCode": code, **(data or {})})
    raise typer.Exit(code)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A rich table on a terminal, tab-separated rows when piped."""
    if sys.stdout.isatty():
        t = Table(*headers)
        for row in rows:
            t.add_row(*(str(c) for c in row))
        out().print(t)
        return
    for row in [headers, *rows]:
        sys.stdout.write("\t".join(str(c).replace("\t", " ").replace("\n", " ") for c in row) + "\n")
