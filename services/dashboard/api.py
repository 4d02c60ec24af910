"""The dashboard's HTTP client for the gateway API (httpx). No exchange logic lives here.

Every call answers an ``ApiResult`` instead of raising, with a message a person can act on
when the API is unreachable or the token is wrong. Secrets are sent, never kept or echoed.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

UNAUTHORIZED = ("the API refused the token (401): check the API token "
                "(PIGGY_API_TOKEN, or the api-token file in PIGGY_HOME)")


@dataclass(frozen=True)
class ApiResult:
    ok: bool
    status: int | None
    data: Any = None
    error: str = ""

    @property
    def unreachable(self) -> bool:
        return self.status is None

    @property
    def unauthorized(self) -> bool:
        return self.status == 401


def _detail(body: Any) -> str:
    """The most readable error text in an API error body."""
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, list) and value:
                return "; ".join(f"{'.'.join(str(p) for p in v.get('loc', [])[1:])}: {v.get('msg')}"
                                 if isinstance(v, dict) else str(v) for v in value)
    return ""


class ApiClient:
    """One API base URL and token; ``http`` is a shared, reusable ``httpx.Client`` (the page
    keeps one per process), else a client is made per call."""

    def __init__(self, base_url: str, token: str, timeout: float = 20.0,
                 http: httpx.Client | None = None) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self._token = token.strip()
        self._timeout = timeout
        self._http = http

    def _call(self, method: str, path: str, *, json: Any = None,
              params: dict[str, Any] | None = None, auth: bool = True) -> ApiResult:
        headers = {"Authorization": f"Bearer {self._token}"} if auth else {}
        url = f"{self.base_url}{path}"
        try:
            if self._http is not None:
                resp = self._http.request(method, url, json=json, params=params, headers=headers,
                                          timeout=self._timeout)
            else:
                with httpx.Client(timeout=self._timeout, trust_env=False) as client:
                    resp = client.request(method, url, json=json, params=params, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            return ApiResult(False, None, error=f"the API URL {self.base_url!r} is not a valid "
                                                "http:// URL")
        except httpx.TimeoutException:
            return ApiResult(False, None, error=f"the API at {self.base_url} did not answer in "
                                                f"{self._timeout:.0f}s")
        except httpx.HTTPError as exc:
            return ApiResult(False, None, error=f"cannot reach the API at {self.base_url} "
                                                f"({type(exc).__name__}); is `piggy up` running?")
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code == 401:
            return ApiResult(False, 401, body, UNAUTHORIZED)
        if resp.status_code >= 400:
            why = _detail(body) or resp.reason_phrase
            return ApiResult(False, resp.status_code, body, f"{why} (HTTP {resp.status_code})")
        return ApiResult(True, resp.status_code, body)

    # ---- health and credentials
    def whoami(self) -> ApiResult:
        """Whom the token acts for: ``{"operator": bool, "userId": str | None}``."""
        return self._call("GET", "/api/whoami")

    def health(self) -> ApiResult:
        return self._call("GET", "/api/health", auth=False)

    def save_credentials(self, user_id: str, exchange: str, api_key: str,
                         api_secret: str) -> ApiResult:
        return self._call("POST", "/api/credentials", json={
            "userId": user_id, "exchange": exchange, "apiKey": api_key, "apiSecret": api_secret})

    def credentials(self, user_id: str, exchange: str) -> ApiResult:
        return self._call("GET", f"/api/credentials/{quote(user_id, safe='')}",
                          params={"exchange": exchange})

    # ---- live switch and emergency stop
    def live(self, user_id: str, exchange: str) -> ApiResult:
        return self._call("GET", f"/api/live/{quote(user_id, safe='')}",
                          params={"exchange": exchange})

    def arm(self, user_id: str, exchange: str, confirm_token: str = "") -> ApiResult:
        return self._call("POST", "/api/live/arm", json={
            "userId": user_id, "exchange": exchange, "confirmToken": confirm_token})

    def disarm(self, user_id: str, exchange: str) -> ApiResult:
        """Disarm ``user_id`` on ``exchange`` only (arming is per exchange)."""
        return self._call("POST", "/api/live/disarm", json={"userId": user_id,
                                                            "exchange": exchange})

    def kill(self, reason: str = "emergency stop from the dashboard") -> ApiResult:
        return self._call("POST", "/api/kill", json={"reason": reason, "by": "dashboard"})

    def resume(self) -> ApiResult:
        return self._call("POST", "/api/resume")

    # ---- orders, balances, trade log
    def trade(self, user_id: str, exchange: str, amount_usd: Decimal,
              symbol: str = "BTC/USDT", side: str = "buy", live: bool = False) -> ApiResult:
        """``live``: LIVE or nothing (409 naming every closed gate), never a paper fill."""
        return self._call("POST", "/api/trade", json={
            "userId": user_id, "exchange": exchange, "side": side, "symbol": symbol.replace("/", ""),
            "symbolCcxt": symbol, "amountUsd": str(amount_usd)} | ({"mode": "live"} if live else {}))

    def minimum(self, exchange: str, symbol: str, amount_usd: Decimal) -> ApiResult:
        """The exchange's smallest accepted amount for ``symbol`` now (GET /api/minimum)."""
        return self._call("GET", "/api/minimum", params={
            "exchange": exchange, "symbol": symbol, "amountUsd": str(amount_usd)})

    def balance(self, user_id: str, exchange: str) -> ApiResult:
        return self._call("GET", f"/api/balance/{quote(user_id, safe='')}",
                          params={"exchange": exchange})

    def positions(self, user_id: str) -> ApiResult:
        """Positions (FIFO) and the holdings-value history, from the books."""
        return self._call("GET", f"/api/positions/{quote(user_id, safe='')}")

    def trades(self, user_id: str, limit: int = 50) -> ApiResult:
        return self._call("GET", "/api/trades", params={"userId": user_id, "limit": limit})
