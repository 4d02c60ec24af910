"""Seeded random walk, price pinning and fault-rule selection."""
from __future__ import annotations

from decimal import Decimal

import pytest

from sandbox.faults import FaultInjector
from sandbox.market import PriceFeed, load_fixture

pytestmark = pytest.mark.unit

FIXTURE = load_fixture()


def walk(seed: int, symbol: str = "BTCUSDT", n: int = 20) -> list[Decimal]:
    feed = PriceFeed(FIXTURE, seed)
    return [feed.step(symbol) for _ in range(n)]


def test_walk_is_deterministic_per_seed_and_moves() -> None:
    assert walk(1) == walk(1)
    assert walk(1) != walk(2)
    assert len(set(walk(1))) > 5


def test_walk_stays_on_the_tick_and_near_the_start() -> None:
    spec = FIXTURE.markets["BTCUSDT"]
    prices = walk(3, n=500)
    assert all(p % spec.tick == 0 for p in prices)
    assert all(Decimal(40000) < p < Decimal(60000) for p in prices)


def test_symbols_walk_independently_of_each_other() -> None:
    feed = PriceFeed(FIXTURE, 1)
    for _ in range(5):
        feed.step("ETHUSDT")
    assert [feed.step("BTCUSDT") for _ in range(20)] == walk(1)


def test_pinned_price_does_not_walk_until_unpinned() -> None:
    feed = PriceFeed(FIXTURE, 1)
    feed.pin("BTCUSDT", Decimal("50000.004"))
    assert {feed.step("BTCUSDT") for _ in range(10)} == {Decimal("50000.00")}
    feed.pin("BTCUSDT", None)
    assert len({feed.step("BTCUSDT") for _ in range(10)}) > 1


def test_fault_with_count_fires_that_many_times_on_its_endpoint_only() -> None:
    faults = FaultInjector()
    faults.add({"endpoint": "POST /api/v3/order", "kind": "http5xx", "count": 2})
    assert faults.pick("GET", "/api/v3/order") == (0, None)
    assert [faults.pick("POST", "/api/v3/order")[1] is not None for _ in range(3)] == [
        True, True, False]


def test_probabilistic_fault_is_reproducible_for_a_seed() -> None:
    def fired(seed: int) -> list[bool]:
        faults = FaultInjector()
        faults.add({"endpoint": "*", "kind": "drop", "probability": 0.3, "seed": seed})
        return [faults.pick("GET", "/api/v3/time")[1] is not None for _ in range(200)]
    assert fired(5) == fired(5)
    assert fired(5) != fired(6)
    assert 30 < sum(fired(5)) < 90


def test_latencies_add_up_and_first_failure_wins() -> None:
    faults = FaultInjector()
    faults.add({"endpoint": "*", "kind": "latency", "latency_ms": 10})
    faults.add({"endpoint": "/api/v3/order", "kind": "latency", "latency_ms": 5})
    first = faults.add({"endpoint": "/api/v3/order", "kind": "rate_limit"})
    faults.add({"endpoint": "*", "kind": "http5xx"})
    latency, rule = faults.pick("DELETE", "/api/v3/order")
    assert latency == 15 and rule is first and rule.status == 429


@pytest.mark.parametrize("spec", [{"kind": "explode"}, {"kind": "drop", "probability": 2},
                                  {"kind": "drop", "endpoint": "order"}])
def test_bad_fault_specs_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        FaultInjector().add(spec)
