"""The common interface of every exchange adapter, over ccxt's unified API.

An adapter knows one exchange's dialect: how its ccxt instance is configured and pointed, how
a market buy by quote amount and by base quantity is sent, which client order id it accepts,
how an order is found again by that id, what its error bodies mean and what a key may do.
Everything outside ``shared/exchanges`` talks to exchanges through these methods only.

ccxt is used unmodified: only ``urls['api']`` is rewritten when ``PIGGY_<EXCHANGE>_URL`` is set
(every REST base, so nothing leaves that host), or ccxt's own testnet mode is switched on.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import ccxt
import ccxt.async_support as ccxta

from shared.events import RejectCategory
from shared.exchanges.venue import VenueFill, VenueOrder
from shared.settings import ExchangeSettings
from shared.vault import ApiKeyPair

_SIGNATURE = re.compile(r"signature=[0-9a-fA-F]+")
_QUERY = re.compile(r"(https?://[^\s?]+)\?\S*")
_JSON = re.compile(r"\{.*\}", re.DOTALL)
_CANONICAL = re.compile(r"^pg-([0-9a-f]{32})$")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
READ_ATTEMPTS = 5
T = TypeVar("T")


class KeyProblem(StrEnum):
    """What an exchange's refusal says about an API key."""

    WRONG_SECRET = "wrong_secret"
    UNKNOWN_KEY = "unknown_key"
    NO_PERMISSION = "no_trading_permission"


@dataclass(frozen=True)
class Classified:
    """An exchange error as the product reports it: category, the exchange's code, a message
    fit for an event (no signatures, query strings or secrets)."""

    category: RejectCategory
    code: str
    message: str
    key_problem: KeyProblem | None = None


@dataclass(frozen=True)
class KeyAccess:
    """What the exchange says a key may do. ``can_trade`` None: the exchange does not say."""

    can_trade: bool | None
    can_withdraw: bool = False


class OrderLookupInconclusive(Exception):
    """The exchange's history could not prove that an order is absent (a page failed, the
    listing was cut short, the exchange ignored a filter). The order may exist: it must
    stay ``unknown`` and never be sent again."""


# find_order pages back from the intent's creation time minus this (our clock vs the exchange's)
LOOKUP_SKEW = timedelta(minutes=10)


class NoTestnet(ValueError):
    """``PIGGY_<EXCHANGE>_TESTNET=1`` for an exchange that has no testnet."""


def safe_message(text: str, redact: tuple[str, ...] = ()) -> str:
    text = _SIGNATURE.sub("signature=***", text)
    text = _QUERY.sub(r"\1", text)
    for secret in redact:
        if secret:
            text = text.replace(secret, "***")
    return text[:500]


def body_of(exc: BaseException) -> Any:
    """The exchange's JSON body inside a ccxt message (ccxt raises ``"<id> <body>"``), or None."""
    match = _JSON.search(str(exc))
    if not match:
        return None
    try:
        return json.loads(match.group(0))
    except ValueError:
        return None


def point_to(client: Any, base: str) -> Any:
    """Rewrite every REST base URL of ``client`` to ``base`` + the original path."""
    base = base.rstrip("/")
    api = client.urls["api"]
    for name, url in list(api.items()):
        if isinstance(url, str):
            api[name] = base + urlsplit(url).path
    return client


def is_loopback(url: str | None) -> bool:
    return bool(url) and (urlsplit(url or "").hostname or "") in LOOPBACK


def category_of(exc: BaseException) -> RejectCategory:
    """The reject category ccxt's exception class implies (ccxt 4.5.90's hierarchy:
    ``RateLimitExceeded``/``DDoSProtection`` are siblings under ``NetworkError``;
    ``OperationFailed`` is neither an ``ExchangeError`` nor a ``NetworkError``)."""
    if isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection)):
        return RejectCategory.RATE_LIMITED
    if isinstance(exc, (ccxt.AuthenticationError, ccxt.PermissionDenied)):
        return RejectCategory.AUTH
    if isinstance(exc, ccxt.InsufficientFunds):
        return RejectCategory.INSUFFICIENT_FUNDS
    if isinstance(exc, (ccxt.InvalidOrder, ccxt.BadRequest, ccxt.BadSymbol,
                        ccxt.OperationRejected)):
        return RejectCategory.INVALID_ORDER
    if isinstance(exc, (ccxt.OperationFailed, ccxt.ExchangeNotAvailable, OSError, TimeoutError)):
        return RejectCategory.UNAVAILABLE
    return RejectCategory.UNKNOWN


def is_transient(exc: BaseException) -> bool:
    """Worth retrying for a read (balance, tickers, markets, order lookup)."""
    return isinstance(exc, (ccxt.OperationFailed, OSError, TimeoutError))


def uuid_from(client_order_id: str) -> str:
    """A UUID derived from the executor's client order id (``pg-`` + 32 hex), deterministic."""
    found = _CANONICAL.match(client_order_id)
    hexed = found.group(1) if found else hashlib.sha256(client_order_id.encode()).hexdigest()[:32]
    return str(uuid.UUID(hex=hexed))


class ExchangeAdapter:
    """One exchange. Subclasses set the class attributes and override the dialect methods."""

    ccxt_id: ClassVar[str] = ""
    label: ClassVar[str] = ""
    has_testnet: ClassVar[bool] = False
    # where its keys are made, and what to grant (README "Going live on a real exchange")
    key_permissions: ClassVar[str] = ""
    # items asked for per history page (each adapter sets its exchange's own maximum)
    page_limit: int = 100

    def __init__(self, name: str) -> None:
        self.name = name

    # ---- the ccxt instance -----------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """ccxt ``options`` for this exchange (calls to avoid, defaults to set)."""
        return {}

    def make_client(self, settings: ExchangeSettings, keys: ApiKeyPair | None = None) -> Any:
        """A ccxt async instance; the caller owns it and must ``await close()``.

        ccxt's rate limiter (the exchange's declared ``rateLimit``) is on for real exchanges
        and off when the exchange is pointed at a loopback URL (the sandbox has no limit)."""
        url = settings.base_url(self.name)
        testnet = settings.testnet(self.name)
        if testnet and not self.has_testnet:
            raise NoTestnet(
                f"{self.name} has no testnet in ccxt; unset PIGGY_{self.name.upper()}_TESTNET "
                f"(or point PIGGY_{self.name.upper()}_URL at a sandbox)")
        config: dict[str, Any] = {"enableRateLimit": not is_loopback(url),
                                  "timeout": settings.exchange_timeout_ms,
                                  "options": self.options()}
        if keys is not None:
            config |= self.credentials(keys)
        client = getattr(ccxta, self.ccxt_id)(config)
        if testnet:
            client.set_sandbox_mode(True)
        if url:
            point_to(client, url)
        return client

    def credentials(self, keys: ApiKeyPair) -> dict[str, Any]:
        return {"apiKey": keys.api_key, "secret": keys.secret}

    # ---- orders ----------------------------------------------------------------------------

    def client_order_id(self, canonical: str) -> str:
        """The id sent to the exchange for the executor's ``canonical`` client order id
        (``pg-`` + 32 hex, deterministic from the intent id): same input, same id."""
        return canonical

    def buy_params(self, client_order_id: str) -> dict[str, Any]:
        """ccxt params that carry the client order id on a new order."""
        return {"clientOrderId": client_order_id}

    async def buy_with_cost(self, client: Any, symbol: str, cost: Decimal,
                            client_order_id: str) -> dict[str, Any]:
        """A market buy spending ``cost`` of the quote currency."""
        return dict(await client.create_market_buy_order_with_cost(
            symbol, float(cost), self.buy_params(client_order_id)))

    async def buy_quantity(self, client: Any, symbol: str, quantity: Decimal,
                           client_order_id: str, price: Decimal) -> dict[str, Any]:
        """A market buy of ``quantity`` base units (``price``: what it is expected to cost)."""
        return dict(await client.create_order(symbol, "market", "buy", float(quantity), None,
                                              self.buy_params(client_order_id)))

    async def sell_quantity(self, client: Any, symbol: str, quantity: Decimal,
                            client_order_id: str) -> dict[str, Any]:
        return dict(await client.create_order(symbol, "market", "sell", float(quantity), None,
                                              self.buy_params(client_order_id)))

    async def find_order(self, client: Any, symbol: str, client_order_id: str,
                         since: datetime | None = None) -> dict[str, Any] | None:
        """The exchange's (ccxt-parsed) order with this client order id, or None only when the
        exchange proves it has none: its own lookup by client id, or its history paged back
        to ``since`` (the intent's creation time; ``LOOKUP_SKEW`` earlier) until past it.
        Raises ``OrderLookupInconclusive`` when absence cannot be proven, and ccxt's errors
        when a call fails (transient ones are retried by ``shared.orders.lookup_order``)."""
        raise NotImplementedError

    # ---- history (the reconciler's view of the exchange) ------------------------------------

    async def orders_since(self, client: Any, symbol: str, since: datetime) -> list[VenueOrder]:
        """Every order on ``symbol`` created at or after ``since``, all pages, oldest first."""
        raise NotImplementedError

    async def fills_since(self, client: Any, symbol: str, since: datetime) -> list[VenueFill]:
        """Every trade on ``symbol`` at or after ``since``, all pages, oldest first."""
        raise NotImplementedError

    async def holdings(self, client: Any) -> dict[str, Decimal]:
        """Free + locked per asset, as the exchange reports the account (zero balances left
        out)."""
        from shared.exchanges.history import holdings_of  # history imports this module
        return holdings_of(await self.read(client.fetch_balance))

    def is_retryable_read(self, exc: BaseException) -> bool:
        """A read that failed with ``exc`` may simply be asked again."""
        return is_transient(exc)

    async def read(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` (a read), asked again while it fails with a retryable error: up to
        ``READ_ATTEMPTS`` times, backing off 50 ms doubling, with jitter (so two processes
        racing for one key's nonce do not collide again)."""
        for attempt in range(READ_ATTEMPTS):
            try:
                return await call()
            except Exception as exc:
                if attempt + 1 >= READ_ATTEMPTS or not self.is_retryable_read(exc):
                    raise
                await asyncio.sleep(0.05 * 2 ** attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")

    async def complete(self, client: Any, symbol: str, order: dict[str, Any]) -> dict[str, Any]:
        """The order with its fill (filled, cost, fee): create replies that carry no status
        (kraken, coinbase) are fetched by the exchange's order id (retried as ``read``)."""
        if order.get("status") is not None and order.get("filled") is not None:
            return order
        try:
            fetched = dict(await self.read(lambda: client.fetch_order(order["id"], symbol)))
        except (ccxt.BaseError, OSError, TimeoutError):
            return order  # placed for sure; the fill is reported as far as known
        if not fetched.get("clientOrderId") and order.get("clientOrderId"):
            fetched["clientOrderId"] = order["clientOrderId"]
        return fetched

    def is_duplicate(self, exc: BaseException) -> bool:
        """The exchange refused the order because it already has one with that client id."""
        return False

    def is_ambiguous(self, exc: BaseException) -> bool:
        """True when an order may or may not exist at the exchange after ``exc``: a timeout, a
        dropped connection, a 5xx, an "execution status unknown" answer, or a duplicate-id
        refusal. Rate limits and clock errors are refused before the order is considered."""
        if self.is_duplicate(exc):
            return True
        if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded, ccxt.InvalidNonce)):
            return False
        if isinstance(exc, ccxt.ExchangeError):
            return False
        return isinstance(exc, (ccxt.OperationFailed, OSError, TimeoutError)) or not isinstance(
            exc, ccxt.BaseError)

    # ---- errors and keys -------------------------------------------------------------------

    def classify(self, exc: BaseException, redact: tuple[str, ...] = ()) -> Classified:
        """The reject category of a ccxt (or transport) exception, code and clean message."""
        code, message = self.error_code(exc)
        text = safe_message(message or f"{type(exc).__name__}: {exc}", redact)
        category, problem = self.category(exc, code)
        return Classified(category, code, text, problem)

    def error_code(self, exc: BaseException) -> tuple[str, str]:
        """(code, message) from the exchange's error body, or ("", "")."""
        return "", ""

    def category(self, exc: BaseException,
                 code: str) -> tuple[RejectCategory, KeyProblem | None]:
        category = category_of(exc)
        if isinstance(exc, ccxt.PermissionDenied):
            return RejectCategory.AUTH, KeyProblem.NO_PERMISSION
        if isinstance(exc, ccxt.AuthenticationError):
            return RejectCategory.AUTH, KeyProblem.UNKNOWN_KEY
        return category, None

    async def key_access(self, client: Any, balance: dict[str, Any]) -> KeyAccess:
        """What the key may do, after ``fetch_balance`` answered ``balance``."""
        return KeyAccess(can_trade=None)
