"""Private (0600) files in the state folder: created once by whichever process comes first,
or replaced by their one writer."""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def create_once(path: Path, text: str) -> None:
    """Write ``path`` (mode 0600) unless it exists, atomically: a reader never sees it empty
    or half-written, and when two processes race the first one's content wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600 whatever the old file's mode was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
