"""One sandbox's whole in-memory state, built from a seed; ``reset`` rebuilds it."""
from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from sandbox.auth import ApiKey, KeyStore
from sandbox.faults import FaultInjector
from sandbox.market import FIXTURE, Fixture, PriceFeed, load_fixture
from sandbox.matching import Engine


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class SandboxState:
    def __init__(self, seed: int = 0, *, fixture: Fixture | None = None,
                 clock: Callable[[], int] = wall_clock_ms) -> None:
        self.fixture = fixture or load_fixture(FIXTURE)
        self.clock = clock
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        """Forget keys, accounts, orders, faults and pinned prices; restart the walk."""
        if seed is not None:
            self.seed = seed
        self.feed = PriceFeed(self.fixture, self.seed)
        self.engine = Engine(self.fixture, self.feed, self.clock)
        self.keys = KeyStore()
        self.faults = FaultInjector(self.seed)

    def create_key(self, balances: dict[str, Decimal], *, can_trade: bool = True,
                   can_withdraw: bool = False, api_key: str | None = None,
                   secret: str | None = None, account_id: int | None = None) -> ApiKey:
        """A key on a new account funded with ``balances``, or on an existing ``account_id``."""
        if account_id is None:
            account_id = self.engine.open_account({}).account_id
        elif account_id not in self.engine.accounts:
            raise ValueError(f"unknown account_id {account_id}")
        key = self.keys.create(account_id, can_trade=can_trade, can_withdraw=can_withdraw,
                               api_key=api_key, secret=secret)
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
