"""Clients for the sandbox admin API: ``SandboxAdmin`` (blocking) and ``AsyncSandboxAdmin``.

Both have the same methods; ``AsyncSandboxAdmin``'s return coroutines. Inside an event loop that
also runs a ``SandboxServer`` use the async client (a blocking call there would deadlock the
loop); use the blocking one against a ``SandboxThread``, ``SandboxProcess`` or CLI sandbox.
Amounts may be given as ``Decimal``/``str``/``int``; they travel as strings.
``SandboxAdmin(url, venue="kraken")`` administers that venue (``/kraken/admin/...``); without a
venue, binanceus (``/admin/...``).
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

Amount = Decimal | str | int | float


def _amounts(balances: Mapping[str, Amount]) -> dict[str, str]:
    return {asset: str(amount) for asset, amount in balances.items()}


def _some(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class _AdminCalls:
    """Each admin call as ``self._call(method, path, body)``; subclasses do the I/O."""

    def __init__(self, url: str, timeout: float = 10.0, venue: str | None = None) -> None:
        self.url = url.rstrip("/") + (f"/{venue}" if venue else "")
        self.venue = venue or "binanceus"
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def create_key(self, *, can_trade: bool = True, can_withdraw: bool = False,
                   balances: Mapping[str, Amount] | None = None, api_key: str | None = None,
                   secret: str | None = None, account_id: int | None = None,
                   key_type: str | None = None) -> Any:
        """-> ``{"venue", "api_key", "secret", "account_id", "can_trade", ...}``; the secret in
        the venue's form (``key_type="ec"`` on coinbase: a cloud key with an EC PEM secret)."""
        return self._call("POST", "/admin/keys", {
            "can_trade": can_trade, "can_withdraw": can_withdraw,
            "balances": _amounts(balances or {}),
            **_some(api_key=api_key, secret=secret, account_id=account_id, key_type=key_type)})

    def get_key(self, api_key: str) -> Any:
        """The key's permissions and its account's ``balances`` (Binance shape)."""
        return self._call("GET", f"/admin/keys/{api_key}")

    def set_key(self, api_key: str, *, can_trade: bool | None = None,
                can_withdraw: bool | None = None, revoked: bool | None = None,
                balances: Mapping[str, Amount] | None = None) -> Any:
        body = _some(can_trade=can_trade, can_withdraw=can_withdraw, revoked=revoked)
        if balances is not None:
            body["balances"] = _amounts(balances)
        return self._call("PATCH", f"/admin/keys/{api_key}", body)

    def delete_key(self, api_key: str) -> Any:
        return self._call("DELETE", f"/admin/keys/{api_key}")

    def orders(self, *, api_key: str | None = None, symbol: str | None = None) -> Any:
        """Every order the sandbox accepted (optionally for one key/symbol), oldest first."""
        query = "&".join(f"{k}={v}" for k, v in _some(api_key=api_key, symbol=symbol).items())
        return self._call("GET", "/admin/orders" + (f"?{query}" if query else ""))

    def external_order(self, api_key: str, symbol: str, side: str = "BUY", *,
                       quote_qty: Amount | None = None, qty: Amount | None = None,
                       client_order_id: str | None = None) -> Any:
        """A filled market order placed "outside the product" for ``api_key``'s account
        (``symbol`` is the venue's market id) -> the order as ``orders()`` lists it."""
        return self._call("POST", "/admin/orders", {"api_key": api_key, "symbol": symbol,
                                                    "side": side, **_some(
            quote_qty=None if quote_qty is None else str(quote_qty),
            qty=None if qty is None else str(qty), client_order_id=client_order_id)})

    def drop_answers(self, api_key: str, count: int = 1, *, hold_ms: int | None = None) -> Any:
        """Lose the answers of ``api_key``'s next ``count`` order placements (they are placed
        and filled; each answer is held ``hold_ms``, default 30 s, then the connection closed)."""
        return self._call("POST", "/admin/drop_answers",
                          {"api_key": api_key, "count": count, **_some(hold_ms=hold_ms)})

    def rejections(self) -> Any:
        return self._call("GET", "/admin/rejections")

    def add_fault(self, endpoint: str = "*", kind: str = "http5xx", *,
                  count: int | None = None, probability: float | None = None,
                  seed: int | None = None, latency_ms: int | None = None,
                  status: int | None = None, json: bool | None = None) -> Any:
        """Add a rule (see ``sandbox.faults``); -> the rule, with its ``id``."""
        return self._call("POST", "/admin/faults", {"endpoint": endpoint, "kind": kind, **_some(
            count=count, probability=probability, seed=seed, latency_ms=latency_ms,
            status=status, json=json)})

    def faults(self) -> Any:
        return self._call("GET", "/admin/faults")

    def clear_faults(self) -> Any:
        return self._call("DELETE", "/admin/faults")

    def set_rate_limits(self, *, enabled: bool = True, ban_after: int | None = None,
                        ban_s: float | None = None,
                        limits: Mapping[str, float] | None = None) -> Any:
        """The venue's real limits per key and IP on (or off); counts start again."""
        return self._call("POST", "/admin/rate-limits", {"enabled": enabled, **_some(
            ban_after=ban_after, ban_s=ban_s, limits=dict(limits) if limits else None)})

    def rate_limits(self) -> Any:
        """Peaks per limit, refusals, bans, accepted order times (``sandbox.ratelimits``)."""
        return self._call("GET", "/admin/rate-limits")

    def set_price(self, symbol: str, price: Amount | None) -> Any:
        """Pin ``symbol`` (the venue's market id: ``"BTCUSDT"``, ``"XXBTZUSD"``, ``"BTC-USD"``)
        at ``price``; ``None`` unpins."""
        return self._call("POST", "/admin/price",
                          {"symbol": symbol, "price": None if price is None else str(price)})

    def prices(self) -> Any:
        return self._call("GET", "/admin/price")

    def reset(self, seed: int | None = None) -> Any:
        return self._call("POST", "/admin/reset", _some(seed=seed))


class SandboxAdmin(_AdminCalls):
    """Blocking admin client: ``SandboxAdmin(url).create_key(balances={"USDT": "100"})``."""

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        with httpx.Client(base_url=self.url, trust_env=False, timeout=self.timeout) as client:
            response = client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()


class AsyncSandboxAdmin(_AdminCalls):
    """Async admin client: ``await AsyncSandboxAdmin(url).create_key(...)``."""

    async def _acall(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        async with httpx.AsyncClient(base_url=self.url, trust_env=False,
                                     timeout=self.timeout) as client:
            response = await client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._acall(method, path, body)
