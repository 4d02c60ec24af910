"""The sandbox's venue limits (pure, on a hand-moved clock): binance's 429 with Retry-After
and then 418 for an IP that keeps sending, kraken's decaying counters, coinbase per second."""
from __future__ import annotations

import pytest

from sandbox.ratelimits import RateLimiter, key_of

pytestmark = pytest.mark.unit

IP = "127.0.0.1"


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _on(dialect: str, clock: Clock, **spec: object) -> RateLimiter:
    limiter = RateLimiter(dialect, clock)
    limiter.configure({"enabled": True, **spec})
    return limiter


def test_off_by_default_nothing_is_counted_or_refused() -> None:
    limiter = RateLimiter("binance", Clock())
    for _ in range(500):
        assert limiter.check("POST", "/api/v3/order", {}, {"X-MBX-APIKEY": "k"}, IP) is None
    assert limiter.stats()["order_times"] == []


def test_binance_101st_order_in_ten_seconds_gets_429_with_retry_after_then_418() -> None:
    clock = Clock(1_000_000.0)  # a 10 s window starts here
    limiter = _on("binance", clock, ban_after=2, ban_s=120)
    headers = {"X-MBX-APIKEY": "k"}
    for _ in range(100):
        assert limiter.check("POST", "/api/v3/order", {}, headers, IP) is None
    clock.t += 4
    refused = limiter.check("POST", "/api/v3/order", {}, headers, IP)
    assert refused is not None and (refused.status, refused.code) == (429, "-1015")
    assert refused.retry_after_s == 6
    clock.t += 1  # not backing off: a strike
    again = limiter.check("GET", "/api/v3/ping", {}, {}, IP)
    assert again is not None and again.status == 429
    clock.t += 1  # and again: banned
    banned = limiter.check("GET", "/api/v3/ping", {}, {}, IP)
    assert banned is not None and banned.status == 418 and banned.retry_after_s == 120
    clock.t += 60
    assert limiter.check("GET", "/api/v3/ping", {}, {}, IP).status == 418  # type: ignore[union-attr]
    clock.t += 61
    assert limiter.check("POST", "/api/v3/order", {}, headers, IP) is None
    stats = limiter.stats()
    assert stats["bans"] == 1 and stats["limits"]["ORDERS"]["peak"] == 100


def test_binance_weight_is_per_ip_and_orders_per_key() -> None:
    clock = Clock(1_000_040.0)  # 20 s into a minute window
    limiter = _on("binance", clock, limits={"REQUEST_WEIGHT": 100})
    for n in range(5):  # account weighs 20
        assert limiter.check("GET", "/api/v3/account", {}, {"X-MBX-APIKEY": f"k{n}"}, IP) is None
    refused = limiter.check("GET", "/api/v3/account", {}, {"X-MBX-APIKEY": "other"}, IP)
    assert refused is not None and refused.code == "-1003" and refused.retry_after_s == 40
    assert limiter.check("GET", "/api/v3/account", {}, {"X-MBX-APIKEY": "k"}, "10.0.0.2") is None


def test_kraken_counter_drains_over_time_and_addorder_counts_on_the_trading_counter() -> None:
    clock = Clock()
    limiter = _on("kraken", clock)
    headers = {"API-Key": "k"}
    for _ in range(15):
        assert limiter.check("POST", "/0/private/QueryOrders", {}, headers, IP) is None
    refused = limiter.check("POST", "/0/private/QueryOrders", {}, headers, IP)
    assert refused is not None and refused.code == "EAPI:Rate limit exceeded"
    assert limiter.check("POST", "/0/private/AddOrder", {}, headers, IP) is None
    clock.t += 3.1  # 0.33/s: one call's worth drained
    assert limiter.check("POST", "/0/private/QueryOrders", {}, headers, IP) is None
    for _ in range(60):
        assert limiter.check("POST", "/0/private/AddOrder", {}, headers, IP) is None
    refused = limiter.check("POST", "/0/private/AddOrder", {}, headers, IP)
    assert refused is not None and refused.code == "EOrder:Rate limit exceeded"
    assert limiter.stats()["bans"] == 0  # kraken refuses; it does not ban here


def test_coinbase_thirty_private_calls_a_second_per_key() -> None:
    clock = Clock(2_000_000.0)
    limiter = _on("coinbase", clock)
    headers = {"CB-ACCESS-KEY": "k"}
    for _ in range(30):
        assert limiter.check("GET", "/api/v3/brokerage/accounts", {}, headers, IP) is None
    assert limiter.check("GET", "/api/v3/brokerage/accounts", {}, headers, IP) is not None
    clock.t += 1
    assert limiter.check("GET", "/api/v3/brokerage/accounts", {}, headers, IP) is None


def test_key_of_reads_each_dialects_header_and_a_jwt_kid() -> None:
    assert key_of({"X-MBX-APIKEY": "a"}) == "a"
    assert key_of({"API-Key": "b"}) == "b"
    assert key_of({"Authorization": "Bearer eyJraWQiOiJjIn0.e30.sig"}) == "c"
    assert key_of({}) == ""
