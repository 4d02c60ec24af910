"""Narrow redis-py's ``bytes | str`` replies to ``str``.

Every client of the product is created with ``decode_responses=True``, so replies are already
``str``; redis-py types them ``bytes | str`` because that depends on how the client was made.
These helpers decode bytes too, so they are also right on a client without decoding.
"""

from __future__ import annotations

from collections.abc import Mapping


def as_str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def as_opt_str(value: bytes | str | None) -> str | None:
    return None if value is None else as_str(value)


def as_str_map(entry: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {as_str(k): as_str(v) for k, v in entry.items()}
