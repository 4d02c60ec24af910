"""Books wiring: the database (opened and migrated before the app starts), the bus and the
trade-stream consumer."""
from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from sqlalchemy import Engine

from services.books import handlers
from services.books.context import BooksContext
from shared.books.db import open_database
from shared.books.queries import Books
from shared.books.settings import BooksSettings
from shared.bus import Bus
from shared.service import Lifecycle, service_app
from shared.settings import RedisSettings, ServiceSettings


def bootstrap(*, redis_url: str | None = None, settings: BooksSettings | None = None,
              engine: Engine | None = None, instance_id: str | None = None) -> BooksContext:
    """Build the books' dependencies; ``engine`` given: already opened and migrated."""
    service = ServiceSettings()
    settings = settings or BooksSettings()
    bus = Bus(redis_url or RedisSettings().url(), "books",
              instance_id if instance_id is not None else service.instance_id,
              service.claim_idle_ms)
    return BooksContext(bus=bus, books=Books(engine or open_database(settings.url())),
                        settings=settings)


def create_app(ctx_factory: Callable[[], BooksContext] = bootstrap) -> FastAPI:
    lifecycle = Lifecycle(handlers.register, handlers.start, handlers.stop)
    return service_app("books", "CryptoPiggy books", ctx_factory, lifecycle)
