"""Alembic environment for the books: always run programmatically (``shared.books.db``),
on the connection passed in ``config.attributes["connection"]``."""
from __future__ import annotations

from alembic import context

from shared.books.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("the books migrations run through shared.books.db.migrate(engine)")
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
