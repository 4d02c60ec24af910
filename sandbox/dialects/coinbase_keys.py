"""Coinbase key material: legacy HMAC keys and cloud (CDP) ES256 keys.

ccxt picks the scheme from the key's shape (``ccxt/coinbase.py`` ``sign``): an api key
containing ``organizations/`` or a secret starting ``-----BEGIN`` signs a JWT with ES256; a
secret of 88 characters or ending ``=`` signs EdDSA (not served here); anything else signs
legacy HMAC. The HMAC secret is therefore 64 hex characters, never 88.
"""
from __future__ import annotations

import secrets
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.venue import KeyMaterial


def new_key(key_type: str) -> KeyMaterial:
    if key_type in ("", "hmac"):
        return KeyMaterial(secrets.token_hex(8), secrets.token_hex(32))
    if key_type == "ec":
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()).decode()
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        name = f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
        return KeyMaterial(name, pem, public)
    raise ValueError(f"unknown key_type {key_type!r} (coinbase: 'hmac' or 'ec')")
