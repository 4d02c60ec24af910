"""The credential vault: API keys and secrets encrypted with AES-256-GCM, stored in Redis.

The master key comes from ``PIGGY_MASTER_KEY`` (urlsafe base64 of 32 bytes) or from a key
file created with mode 0600 on first start. Redis holds ciphertext only; the associated data
binds each ciphertext to its user and exchange, so entries can't be swapped between users.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aredis
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.files import create_once
from shared.redis_text import as_opt_str, as_str
from shared.settings import VaultSettings


class VaultError(Exception):
    """A vault entry is missing or can't be decrypted (the message never holds key material)."""


@dataclass(frozen=True)
class ApiKeyPair:
    api_key: str
    secret: str

    def __repr__(self) -> str:
        return f"ApiKeyPair(api_key={mask(self.api_key)!r}, secret='***')"


def mask(api_key: str) -> str:
    if len(api_key) <= 8:
        return "*" * len(api_key)
    return f"{api_key[:4]}…{api_key[-4:]}"


# Every vault entry's key, kept with the entry: whoever lists the vault (the credentials
# service's re-validation round) reads this set instead of scanning the keyspace.
INDEX = "piggy:vaultindex"


def vault_ref(user_id: str, exchange: str) -> str:
    return f"piggy:vault:{user_id}:{exchange}"


def load_master_key(settings: VaultSettings) -> bytes:
    """The 32-byte key from the environment, else the key file (created 0600 if absent)."""
    if settings.master_key is not None:
        return _decode_key(settings.master_key.get_secret_value())
    path: Path = settings.key_file
    if not path.exists():  # the gateway and the credentials service may both get here at once
        create_once(path, base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode())
    if path.stat().st_mode & 0o077:
        raise VaultError(f"key file {path} is readable by others; chmod 600 it")
    return _decode_key(path.read_text().strip())


def _decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.encode())
    except (ValueError, TypeError):
        key = b""
    if len(key) != 32:
        raise VaultError("the master key must be urlsafe base64 of 32 bytes")
    return key


class Vault:
    def __init__(self, redis: aredis.Redis, master_key: bytes) -> None:
        self._redis = redis
        self._aead = AESGCM(master_key)

    def _seal(self, plaintext: str, aad: bytes) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._aead.encrypt(nonce, plaintext.encode(), aad)).decode()

    def _open(self, token: str, aad: bytes) -> str:
        raw = base64.b64decode(token)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], aad).decode()
        except Exception as exc:
            raise VaultError("vault entry can't be decrypted with this master key") from exc

    async def put(self, user_id: str, exchange: str, pair: ApiKeyPair) -> str:
        ref = vault_ref(user_id, exchange)
        aad = ref.encode()
        await self._redis.hset(ref, mapping={
            "api_key": self._seal(pair.api_key, aad + b":key"),
            "secret": self._seal(pair.secret, aad + b":secret"),
            "masked": mask(pair.api_key),
        })
        await self._redis.sadd(INDEX, ref)
        return ref

    async def get(self, ref: str) -> ApiKeyPair:
        entry = await self._redis.hgetall(ref)
        if not entry:
            raise VaultError(f"no vault entry at {ref}")
        aad = ref.encode()
        return ApiKeyPair(self._open(as_str(entry["api_key"]), aad + b":key"),
                          self._open(as_str(entry["secret"]), aad + b":secret"))

    async def masked(self, ref: str) -> str | None:
        return as_opt_str(await self._redis.hget(ref, "masked"))

    async def delete(self, ref: str) -> bool:
        await self._redis.srem(INDEX, ref)
        return bool(await self._redis.delete(ref))
