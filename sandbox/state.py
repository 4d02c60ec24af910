"""One venue's whole in-memory state, built from a seed; ``reset`` rebuilds it."""
from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from sandbox.auth import ApiKey, KeyStore
from sandbox.faults import FaultInjector
from sandbox.market import Fixture, PriceFeed
from sandbox.matching import Engine
from sandbox.ratelimits import RateLimiter, dialect_of
from sandbox.venue import Venue


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class SandboxState:
    def __init__(self, seed: int = 0, *, fixture: Fixture | None = None,
                 clock: Callable[[], int] = wall_clock_ms, venue: Venue | str = "binanceus"
                 ) -> None:
        if isinstance(venue, str):
            from sandbox.venues import venue as by_name
            venue = by_name(venue)
        self.venue = venue
        self.fixture = fixture or venue.fixture()
        self.clock = clock
        self.reset(seed)

    @property
    def name(self) -> str:
        return self.venue.name

    def reset(self, seed: int | None = None) -> None:
        """Forget keys, accounts, orders, faults, rate limits (off again) and pinned prices;
        restart the walk."""
        if seed is not None:
            self.seed = seed
        self.feed = PriceFeed(self.fixture, self.seed)
        self.engine = Engine(self.fixture, self.feed, self.clock, fee_rate=self.venue.fee_rate,
                             fee_in_quote=self.venue.fee_in_quote)
        self.keys = KeyStore(self.venue.key_re)
        self.faults = FaultInjector(self.seed, self.venue.fault_status)
        self.limits = RateLimiter(dialect_of(self.name), lambda: self.clock() / 1000)

    def create_key(self, balances: dict[str, Decimal], *, can_trade: bool = True,
                   can_withdraw: bool = False, api_key: str | None = None,
                   secret: str | None = None, account_id: int | None = None,
                   key_type: str = "") -> ApiKey:
        """A key on a new account funded with ``balances``, or on an existing ``account_id``.

        Without ``api_key``/``secret`` the venue issues key material of its own kind
        (``key_type``: coinbase ``"hmac"`` (default) or ``"ec"`` for a JWT ES256 key).
        """
        material = self.venue.new_key(key_type)
        if account_id is None:
            account_id = self.engine.open_account({}).account_id
        elif account_id not in self.engine.accounts:
            raise ValueError(f"unknown account_id {account_id}")
        key = self.keys.create(account_id, can_trade=can_trade, can_withdraw=can_withdraw,
                               api_key=api_key or material.api_key,
                               secret=secret or material.secret,
                               public_key="" if secret else material.public_key)
        if balances:
            self.engine.fund(account_id, balances)
        return key

    def quote(self, symbol: str) -> Decimal:
        """Advance ``symbol``'s walk one step, fill crossed limit orders, return the price."""
        price = self.feed.step(symbol)
        if self.engine.resting:
            self.engine.on_price(symbol)
        return price

    def pin(self, symbol: str, price: Decimal | None) -> None:
        self.feed.pin(symbol, price)
        self.engine.on_price(symbol)
