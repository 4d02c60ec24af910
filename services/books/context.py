"""What the books handlers share, built once at start-up."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from shared.books.queries import Books
from shared.books.settings import BooksSettings
from shared.bus import Bus


@dataclass
class BooksContext:
    bus: Bus
    books: Books
    settings: BooksSettings
    trimmer: asyncio.Task[None] | None = None
    db_down_since: float | None = None  # set while writes fail (one log line per outage)
    journaled: int = 0
    extras: dict[str, object] = field(default_factory=dict)
