"""Every event and command on the bus, in one module.

Each event carries an id, its type, a schema version, a UTC timestamp and a correlation id
that follows an intent through every hop. Money is ``Decimal`` and travels as a string.
"""
from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter, field_validator

from shared.types import Amount, Exchange, Symbol, UserId

Money = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json")]
SCHEMA_VERSION = 1
KNOWN_MAJOR_VERSIONS = frozenset({1})  # an event of any other major version is not understood


def new_id() -> str:
    """A random (version 4) UUID as 32 hex digits, what ``uuid.uuid4().hex`` gives, made
    without building a ``UUID`` object (every event takes one; that object was most of it)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def utcnow() -> datetime:
    return datetime.now(UTC)


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class Mode(StrEnum):
    LIVE = "LIVE"
    PAPER = "PAPER"
    NONE = "NONE"


class Event(BaseModel):
    """Envelope fields shared by every event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(default_factory=new_id)
    version: int = SCHEMA_VERSION
    ts: datetime = Field(default_factory=utcnow)
    correlation_id: str = Field(default_factory=new_id)

    @field_validator("version")
    @classmethod
    def _known_major(cls, v: int) -> int:
        """A major version this code does not know may mean anything: refuse it (the bus
        dead-letters it with this reason) rather than act on a guess."""
        if v not in KNOWN_MAJOR_VERSIONS:
            known = ", ".join(str(k) for k in sorted(KNOWN_MAJOR_VERSIONS))
            raise ValueError(f"unsupported major version {v} (this service knows {known})")
        return v


# ---- orders -------------------------------------------------------------------------------


class OrderIntent(Event):
    type: Literal["OrderIntent"] = "OrderIntent"
    intent_id: str = Field(default_factory=new_id, min_length=1, max_length=64)
    user_id: UserId
    exchange: Exchange = "binanceus"
    symbol: Symbol
    side: Side = Side.BUY
    amount_usd: Amount
    source: str = Field(default="api", max_length=64)
    live_only: bool = False  # live or rejected, never a paper fill (POST /api/trade mode=live)
    # a caller may block on this intent's outcome: the executor also writes it on the intent's
    # short-lived outcome key (shared/outcomes.py); publishers nobody waits on (strategies, the
    # paper backlog) send False and cost Redis no key per intent
    await_outcome: bool = True


class IntentAccepted(Event):
    type: Literal["IntentAccepted"] = "IntentAccepted"
    intent_id: str
    user_id: str
    mode: Mode
    route: str


class IntentRejected(Event):
    type: Literal["IntentRejected"] = "IntentRejected"
    intent_id: str
    user_id: str
    reasons: list[str]


class OrderRequested(Event):
    """Executor → gateway: place this order. ``live`` is the executor's mark; the gateway
    refuses anything without it."""

    type: Literal["OrderRequested"] = "OrderRequested"
    intent_id: str
    client_order_id: str
    user_id: UserId
    exchange: Exchange
    symbol: Symbol
    side: Side
    amount_usd: Amount
    live: bool = False
    requested_by: str = ""
    # the user's trade bounds: a quote order the exchange would round below ``min_usd`` is
    # rounded up to the next quantity step only while it stays within ``max_usd``
    min_usd: Money | None = None
    max_usd: Money | None = None


class OrderPlaced(Event):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    intent_id: str
    client_order_id: str
    user_id: str
    exchange: str
    symbol: str
    symbol_id: str
    order_id: str
    status: str
    filled: Money = Decimal(0)
    cost: Money = Decimal(0)
    average: Money | None = None
    fee: Money = Decimal(0)
    fee_currency: str = ""
    route: str = "gateway"
    notes: list[str] = Field(default_factory=list)  # e.g. "rounded up to the next step"


class RejectCategory(StrEnum):
    AUTH = "auth"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    INVALID_ORDER = "invalid_order"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    NOT_LIVE = "not_live"
    UNKNOWN = "unknown"


class OrderRejected(Event):
    type: Literal["OrderRejected"] = "OrderRejected"
    intent_id: str
    client_order_id: str
    user_id: str
    exchange: str
    symbol: str
    category: RejectCategory
    code: str = ""
    message: str
    route: str = "gateway"
    symbol_id: str = ""
    # False: refused before anything was sent to the exchange (metric piggy_order_refusals_total);
    # True: the exchange answered or failed (piggy_exchange_errors_total)
    sent: bool = True


class TradeStatus(StrEnum):
    """The status word of a trade-log line (the wire values are the earlier free-text ones)."""

    FILLED = "filled"
    OPEN = "open"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    DISARMED = "disarmed"  # a note line: live was switched off, with the reason

    @classmethod
    def from_exchange(cls, status: str) -> TradeStatus:
        """A ccxt order status as a trade status (``closed`` = filled)."""
        if status == "closed":
            return cls.FILLED
        try:
            return cls(status)
        except ValueError:
            return cls.UNKNOWN


class TradeLogged(Event):
    """One line of the trade log: the final outcome of one intent."""

    type: Literal["TradeLogged"] = "TradeLogged"
    intent_id: str
    user_id: str
    exchange: str = "binanceus"
    symbol: str
    side: Side
    amount_usd: Money
    mode: Mode
    status: TradeStatus
    order_id: str = ""
    client_order_id: str = ""
    price: Money | None = None
    filled: Money = Decimal(0)
    cost: Money = Decimal(0)
    fee: Money = Decimal(0)
    fee_currency: str = ""
    reasons: list[str] = Field(default_factory=list)
    source: str = ""
    route: str = ""


# ---- market data and health ---------------------------------------------------------------


class Ticker(Event):
    type: Literal["Ticker"] = "Ticker"
    exchange: str
    symbol: str
    symbol_id: str
    last: Money
    bid: Money | None = None
    ask: Money | None = None


class Heartbeat(Event):
    type: Literal["Heartbeat"] = "Heartbeat"
    service: str
    instance_id: str
    exchanges: dict[str, bool] = Field(default_factory=dict)
    rtt_ms: float | None = None


class QueryBalance(Event):
    """Request (bus request/reply) for a user's balances on one exchange; answered by the
    gateway with a ``BalanceReport``."""

    type: Literal["QueryBalance"] = "QueryBalance"
    user_id: UserId
    exchange: Exchange = "binanceus"


class AssetBalance(BaseModel):
    free: Money
    used: Money
    total: Money
    usd: Money | None = None


class BalanceReport(BaseModel):
    user_id: str
    exchange: str
    ok: bool
    balances: dict[str, AssetBalance] = Field(default_factory=dict)
    total_usd: Money = Decimal(0)
    error: str = ""
    category: str = ""


# ---- credentials ---------------------------------------------------------------------------


class CredentialsSubmitted(Event):
    type: Literal["CredentialsSubmitted"] = "CredentialsSubmitted"
    user_id: UserId
    exchange: Exchange
    vault_ref: str
    api_key_masked: str


class CredentialsValidated(Event):
    type: Literal["CredentialsValidated"] = "CredentialsValidated"
    user_id: UserId
    exchange: Exchange
    can_trade: bool
    can_withdraw: bool
    warning: str = ""


class CredentialsRejected(Event):
    type: Literal["CredentialsRejected"] = "CredentialsRejected"
    user_id: UserId
    exchange: Exchange
    reason_code: str
    reason: str


class CredentialsRevoked(Event):
    type: Literal["CredentialsRevoked"] = "CredentialsRevoked"
    user_id: UserId
    exchange: Exchange
    reason: str


CredentialsEvent = Annotated[
    CredentialsSubmitted | CredentialsValidated | CredentialsRejected | CredentialsRevoked,
    Field(discriminator="type"),
]

# ---- control ------------------------------------------------------------------------------


class KillSwitchEngaged(Event):
    type: Literal["KillSwitchEngaged"] = "KillSwitchEngaged"
    by: str = "operator"
    reason: str = ""


class KillSwitchReleased(Event):
    type: Literal["KillSwitchReleased"] = "KillSwitchReleased"
    by: str = "operator"


class LiveArmed(Event):
    type: Literal["LiveArmed"] = "LiveArmed"
    user_id: str
    exchange: str = ""  # empty only in events from before arming was per exchange


class LiveDisarmed(Event):
    type: Literal["LiveDisarmed"] = "LiveDisarmed"
    user_id: str
    reason: str
    exchange: str = ""  # empty: a pre-per-exchange arming, or every exchange


class ServiceRestarted(Event):
    """The embedded stack's supervisor restarted a child that died (for alerts)."""

    type: Literal["ServiceRestarted"] = "ServiceRestarted"
    service: str
    exit_code: int | None = None
    restarts: int
    max_restarts: int
    gave_up: bool = False


class ReconcileFindings(Event):
    """Books → notifier (on the control stream): a reconciliation round found the journal and
    an exchange apart (corrections made, orders placed outside CryptoPiggy, balance drift) or
    could not finish. ``findings``/``drift`` are sentences, the first few of each; the full
    report is in the audit table and ``piggy reconcile``."""

    type: Literal["ReconcileFindings"] = "ReconcileFindings"
    user_id: str
    exchange: str
    counts: dict[str, int] = Field(default_factory=dict)
    findings: list[str] = Field(default_factory=list)
    drift: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


ControlEvent = Annotated[
    KillSwitchEngaged | KillSwitchReleased | LiveArmed | LiveDisarmed | ServiceRestarted
    | ReconcileFindings,
    Field(discriminator="type"),
]

OrderEvent = Annotated[OrderPlaced | OrderRejected, Field(discriminator="type")]

# ---- commands to the executor (request/reply) ---------------------------------------------


class ArmLive(Event):
    """The confirm token travels hashed (sha256 hex), never as typed."""

    type: Literal["ArmLive"] = "ArmLive"
    user_id: UserId
    exchange: Exchange = "binanceus"
    confirm_token_sha256: str = ""


class DisarmLive(Event):
    type: Literal["DisarmLive"] = "DisarmLive"
    user_id: UserId
    exchange: Exchange = "binanceus"  # the exchange disarmed, and whose gates the answer shows
    everywhere: bool = False  # disarm the user on every exchange
    reason: str = "operator disarmed"


class QueryLive(Event):
    type: Literal["QueryLive"] = "QueryLive"
    user_id: UserId
    exchange: Exchange = "binanceus"


ExecutorCommand = Annotated[ArmLive | DisarmLive | QueryLive, Field(discriminator="type")]


class GateView(BaseModel):
    gate: str
    open: bool
    reason: str


class LiveStatus(BaseModel):
    """The executor's answer to a live command: armed or not, and every gate with its reason."""

    user_id: str
    exchange: str = ""
    armed: bool
    ok: bool
    message: str
    gates: list[GateView]
    closed: list[str]


class DeadLetter(BaseModel):
    """What a consumer could not handle, with the reason. Not an Event: its body may be junk."""

    model_config = ConfigDict(frozen=True)

    stream: str
    group: str
    entry_id: str
    reason: str
    body: str
    ts: datetime = Field(default_factory=utcnow)


_adapters: dict[Any, TypeAdapter[Any]] = {}


def adapter(schema: Any) -> TypeAdapter[Any]:
    """A cached TypeAdapter, so unions (``OrderEvent``…) validate like models."""
    if schema not in _adapters:
        _adapters[schema] = TypeAdapter(schema)
    return _adapters[schema]
