"""The books' settings (``PIGGY_DATABASE_URL``, ``PIGGY_BOOKS_*``), read once at start-up."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.config_file import default_home
from shared.settings import BaseSettings

DB_FILE = "books.sqlite3"


class BooksSettings(BaseSettings):
    """Where the books are and how the journal runs.

    ``database_url``: a SQLAlchemy URL (``postgresql://user:pass@host:5432/piggy`` — psycopg 3
    is used — or ``sqlite:////path/books.sqlite3``); unset: SQLite in WAL mode at
    ``$PIGGY_HOME/books.sqlite3``. It may hold a password: a secret, shown masked."""

    model_config = SettingsConfigDict(env_prefix="PIGGY_", frozen=True, extra="forbid")
    database_url: SecretStr | None = None
    home: Path = Field(default_factory=default_home)
    books_port: int = Field(default=8005, ge=1, le=65535)  # /healthz and /metrics (piggy up)
    books_batch_size: int = Field(default=256, ge=1, le=5000)  # trade lines per SQL transaction
    books_trim_interval_s: float = Field(default=30.0, gt=0)  # how often the trade stream is trimmed
    books_trim_keep_s: float = Field(default=3600.0, ge=0)  # trade lines this recent stay in Redis
    books_ledger_ttl_s: int = Field(default=3600, ge=60)  # an intent's ledger key, once journaled

    def url(self) -> str:
        if self.database_url is not None and self.database_url.get_secret_value().strip():
            return self.database_url.get_secret_value().strip()
        return f"sqlite:///{(self.home / DB_FILE).resolve()}"
