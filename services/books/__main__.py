"""``python -m services.books``: journals the trade lines into SQL; /healthz and /metrics on
PIGGY_HEALTH_PORT. A database that can't be reached or migrated stops it at once with one
line naming the URL (password masked) and the cause (exit code 3)."""
import sys
from functools import partial

from services.books.app import bootstrap, create_app
from shared.books.db import BooksDatabaseError, open_database
from shared.books.settings import BooksSettings
from shared.service import serve, setup_logging
from shared.settings import ServiceSettings

if __name__ == "__main__":
    service = ServiceSettings()
    setup_logging(service.log_level)
    settings = BooksSettings()
    try:
        engine = open_database(settings.url())
    except BooksDatabaseError as exc:
        print(f"books: not started: {exc}", file=sys.stderr, flush=True)
        sys.exit(3)
    serve(create_app(partial(bootstrap, settings=settings, engine=engine)), service.health_host,
          service.health_port or settings.books_port, service.log_level,
          loop=service.event_loop)
