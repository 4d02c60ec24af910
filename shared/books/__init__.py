"""The books: every order and fill in SQL (SQLite by default, PostgreSQL by URL).

``models`` (tables), ``db`` (engine, migrations), ``journal`` (trade lines → row values,
idempotent upserts), ``queries`` (the read API), ``positions`` (FIFO PnL). See docs/books.md.
"""
