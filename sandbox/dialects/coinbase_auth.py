"""Coinbase request authentication as ccxt ``coinbase`` signs it (``ccxt/coinbase.py`` ``sign``).

Legacy HMAC keys: ``CB-ACCESS-KEY``, ``CB-ACCESS-TIMESTAMP`` (seconds) and ``CB-ACCESS-SIGN`` =
hex HMAC-SHA256(secret, timestamp + METHOD + path + payload), where payload is the JSON body
(non-GET), ``'?' + query`` for a ``/v2`` GET with a query, and ``''`` for a ``/api/v3`` GET;
the timestamp must be within 30 s of the server clock.

Cloud keys: ``Authorization: Bearer <JWT>`` signed ES256 with the key's P-256 private key;
header ``kid`` = the key name, claims ``sub`` = the key name, ``iss`` = ``coinbase-cloud``,
``aud`` contains ``retail_rest_api_proxy``, ``nbf <= now <= exp``, and ``uri`` =
``METHOD host/path`` (ccxt strips only ``https://``, so on loopback the ``http://`` stays).
Pure functions: the dialect turns their ``AuthFailure`` into Coinbase's 401 answer.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sandbox.auth import ApiKey

MAX_SKEW_S = 30


class AuthFailure(Exception):
    """Why a request is not authenticated (``reason`` goes into the 401 body)."""

    def __init__(self, reason: str, *, stale: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.stale = reason, stale


def hmac_signature(secret: str, timestamp: str, method: str, path: str, payload: str) -> str:
    msg = (timestamp + method + path + payload).encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def hmac_payload(method: str, path: str, raw_query: str, body: str) -> str:
    """What ccxt appends after the path when signing."""
    if method != "GET":
        return body
    return f"?{raw_query}" if path.startswith("/v2/") and raw_query else ""


def check_hmac(keys: dict[str, ApiKey], headers: Any, method: str, path: str, raw_query: str,
               body: str, now_s: int) -> ApiKey:
    key = keys.get(headers.get("CB-ACCESS-KEY", ""))
    if key is None or key.revoked:
        raise AuthFailure("invalid api key")
    ts = headers.get("CB-ACCESS-TIMESTAMP", "")
    sig = headers.get("CB-ACCESS-SIGN", "")
    expected = hmac_signature(key.secret, ts, method, path,
                              hmac_payload(method, path, raw_query, body))
    if not sig or not hmac.compare_digest(expected, sig.lower()):
        raise AuthFailure("invalid signature")
    if not ts.isdigit() or abs(now_s - int(ts)) > MAX_SKEW_S:
        raise AuthFailure("request timestamp expired", stale=True)
    return key


def _b64url(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def check_jwt(keys: dict[str, ApiKey], token: str, method: str, uris: set[str],
              now_s: int) -> ApiKey:
    """The key whose JWT ``token`` is valid now for one of ``uris`` (``METHOD host/path``)."""
    try:
        head_b64, claims_b64, sig_b64 = token.split(".")
        header, claims = json.loads(_b64url(head_b64)), json.loads(_b64url(claims_b64))
        raw_sig = _b64url(sig_b64)
    except (ValueError, binascii.Error):
        raise AuthFailure("malformed token") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthFailure("malformed token")
    if header.get("alg") != "ES256":
        raise AuthFailure("unsupported algorithm")
    key = keys.get(str(header.get("kid", "")))
    if key is None or key.revoked or not key.public_key:
        raise AuthFailure("invalid api key")
    public = serialization.load_pem_public_key(key.public_key.encode())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    if len(raw_sig) != 64:
        raise AuthFailure("invalid signature")
    der = encode_dss_signature(int.from_bytes(raw_sig[:32], "big"),
                               int.from_bytes(raw_sig[32:], "big"))
    try:
        public.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AuthFailure("invalid signature") from None
    aud = claims.get("aud")
    if claims.get("sub") != key.api_key or claims.get("iss") != "coinbase-cloud" or (
            "retail_rest_api_proxy" not in (aud if isinstance(aud, list) else [aud])):
        raise AuthFailure("invalid claims")
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if not isinstance(nbf, int) or not isinstance(exp, int) or not (
            nbf - MAX_SKEW_S <= now_s <= exp):
        raise AuthFailure("token expired", stale=True)
    if claims.get("uri") not in uris:
        raise AuthFailure("token not valid for this request")
    return key
