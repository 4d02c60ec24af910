"""API keys and Binance's SIGNED-endpoint security, as pure functions plus a key store.

Verification follows Binance (``totalParams = queryString + requestBody``) and the wire facts in
``docs/sandbox.md``: the HMAC-SHA256 is computed over the *raw, still percent-encoded* query
string and body with the ``signature=...`` pair removed; nothing is decoded and re-encoded.
Check order: API key (-2014/-2015), mandatory params (-1102), signature (-1022),
recvWindow (-1131), timestamp (-1021), then the permission for the action (-2015).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qsl

from sandbox import errors

KEY_RE = re.compile(r"^[A-Za-z0-9]{1,128}$")
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60000


@dataclass
class ApiKey:
    api_key: str
    secret: str
    account_id: int
    can_trade: bool = True
    can_withdraw: bool = False
    revoked: bool = False
    nonce: int = 0  # Kraken: the last nonce accepted for this key
    public_key: str = ""  # Coinbase JWT keys: the PEM the signature is checked with


def split_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=`` pair (other bytes untouched), and the signature."""
    kept: list[str] = []
    sig: str | None = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            sig = part[len("signature="):]
        else:
            kept.append(part)
    return "&".join(kept), sig


def sign(payload: str, secret: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def verify_signature(raw_query: str, raw_body: str, secret: str) -> bool:
    """True if the request carries a valid HMAC-SHA256 of ``query + body`` (signature removed)."""
    q, s1 = split_signature(raw_query)
    b, s2 = split_signature(raw_body)
    sig = s1 or s2
    if not sig:
        return False
    return hmac.compare_digest(sign(q + b, secret), sig.lower())


def check_timestamp(timestamp: int, recv_window: int, server_ms: int) -> None:
    """Binance's rule: not more than 1 s ahead of the server, not older than ``recvWindow``."""
    if timestamp >= server_ms + 1000:
        raise errors.ahead_of_server()
    if server_ms - timestamp > recv_window:
        raise errors.outside_recv_window()


def parse_params(raw_query: str, raw_body: str) -> dict[str, str]:
    """Query and form parameters merged (the body wins on a clash), percent-decoded."""
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    params.update(parse_qsl(raw_body, keep_blank_values=True))
    return params


def _int_param(params: dict[str, str], name: str) -> int:
    raw = params.get(name, "")
    if not raw.isdigit():
        raise errors.illegal_chars(name)
    return int(raw)


class KeyStore:
    """In-memory API keys; a deleted key is simply unknown (-2015) afterwards.

    ``key_re`` is the venue's API key syntax (Binance: letters/digits; Coinbase's cloud keys
    contain ``/``).
    """

    def __init__(self, key_re: re.Pattern[str] = KEY_RE) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.key_re = key_re

    def create(self, account_id: int, *, can_trade: bool = True, can_withdraw: bool = False,
               api_key: str | None = None, secret: str | None = None,
               public_key: str = "") -> ApiKey:
        api_key = api_key or secrets.token_hex(32)
        if not self.key_re.match(api_key):
            raise ValueError(f"api_key must match {self.key_re.pattern}")
        if api_key in self.keys:
            raise ValueError(f"api_key {api_key!r} already exists")
        key = ApiKey(api_key, secret or secrets.token_hex(32), account_id, can_trade, can_withdraw,
                     public_key=public_key)
        self.keys[api_key] = key
        return key

    def authenticate(self, header_key: str | None, raw_query: str, raw_body: str,
                     server_ms: int, *, need_trade: bool = False) -> tuple[ApiKey, dict[str, str]]:
        """The key and decoded params of a SIGNED request, or a ``BinanceError``."""
        if not header_key or not KEY_RE.match(header_key):
            raise errors.api_key_format_invalid()
        key = self.keys.get(header_key)
        if key is None or key.revoked:
            raise errors.invalid_api_key()
        params = parse_params(raw_query, raw_body)
        for name in ("timestamp", "signature"):
            if not params.get(name):
                raise errors.mandatory(name)
        if not verify_signature(raw_query, raw_body, key.secret):
            raise errors.bad_signature()
        recv = DEFAULT_RECV_WINDOW
        if "recvWindow" in params:
            recv = _int_param(params, "recvWindow")
            if recv > MAX_RECV_WINDOW:
                raise errors.BinanceError(400, -1131, "recvWindow must be less than 60000")
        check_timestamp(_int_param(params, "timestamp"), recv, server_ms)
        if need_trade and not key.can_trade:
            raise errors.invalid_api_key()
        return key, params
