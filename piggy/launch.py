"""What ``piggy up`` prepares in Redis and for its children before they start: the vault's
master key (loaded or created here, so only the processes that decrypt ever hold it) and the
vault's index set (entries saved before the index existed are added to it)."""
from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import redis
from pydantic import SecretStr

from shared import redis_conn
from shared.settings import VaultSettings
from shared.vault import INDEX, VaultError, load_master_key


def master_key(home: Path, given: str | None) -> str:
    """The key as ``PIGGY_MASTER_KEY`` text: ``given``, else the environment's, else the key
    file in ``home`` (created 0600 when absent). ValueError names what is wrong with it."""
    settings = (VaultSettings(home=home, master_key=SecretStr(given)) if given
                else VaultSettings(home=home))
    try:
        return base64.urlsafe_b64encode(load_master_key(settings)).decode()
    except VaultError as exc:
        raise ValueError(f"vault master key: {exc}") from exc


def index_vault(admin_url: str, say: Callable[[str], None]) -> None:
    """Add every vault entry to the index set (as an admin: the services may not SCAN)."""
    try:
        with redis_conn.sync_client(admin_url) as client:
            refs = list(client.scan_iter(match="piggy:vault:*", count=500, _type="HASH"))
            if refs:
                client.sadd(INDEX, *refs)
    except redis.RedisError as exc:  # a Redis login that may not SCAN: new entries still are
        say(f"redis       vault index not rebuilt ({type(exc).__name__}); keys saved before "
            "this version are re-validated once saved again")
