"""The shared rate budget's math, as pure functions: a bucket never lets more through in any
window than the exchange's limit, reaches its steady rate under load, and holds back for what
the exchange said after a 429/418."""
from __future__ import annotations

import ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.exchanges.budget import (
    DEFAULT_BAN_S,
    DEFAULT_PENALTY_S,
    RateBudgetExhausted,
    penalized,
    penalty_seconds,
    reserve,
)
from shared.exchanges.limits import RATE_SHARE, Bucket, Call, Limit, bucket, charges, limits_of

pytestmark = pytest.mark.unit


def _run(b: Bucket, arrivals: list[float], costs: list[float], max_wait: float = 1e9
         ) -> list[tuple[float, float]]:
    """(send time, cost) of every call granted, one caller after the other in arrival order."""
    tat, sent = 0.0, []
    for now, cost in zip(arrivals, costs, strict=True):
        r, (tat2,) = reserve([tat], now, [cost], [b], max_wait)
        if r.granted:
            tat = tat2
            sent.append((now + r.wait_s, cost))
    return sent


def _max_in_window(sent: list[tuple[float, float]], window: float) -> float:
    best = 0.0
    for start, _ in sent:
        best = max(best, sum(c for t, c in sent if start <= t < start + window - 1e-9))
    return best


@pytest.mark.parametrize(("exchange", "rate_limit"), [("binanceus", 50), ("binance", 50),
                                                       ("kraken", 1000), ("coinbase", 34)])
def test_every_declared_window_limit_is_never_exceeded_by_its_bucket(exchange: str,
                                                                     rate_limit: int) -> None:
    for limit in limits_of(exchange, rate_limit):
        b = bucket(limit)
        if limit.kind == "window":
            assert b.burst + b.rate * limit.window_s <= limit.amount
        else:
            assert b.burst <= limit.amount and b.rate <= limit.amount / limit.window_s


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.sampled_from([1.0, 1.0, 1.0, 4.0])),
                min_size=1, max_size=150))
def test_a_burst_of_any_shape_stays_within_the_binance_order_limit(
        calls: list[tuple[float, float]]) -> None:
    """100 orders per 10 s: whatever arrives when, no 10 s window holds more than 100."""
    limit = Limit("orders", "key", "orders", 100, 10.0, unit="call")
    arrivals = sorted(t for t, _ in calls)
    sent = _run(bucket(limit), arrivals, [c for _, c in calls])
    assert len(sent) == len(calls)  # unbounded wait: everything goes, later
    assert _max_in_window(sent, limit.window_s) <= limit.amount


def test_a_saturating_burst_runs_at_the_declared_rate_not_far_below_it() -> None:
    limit = Limit("orders", "key", "orders", 100, 10.0, unit="call")
    sent = _run(bucket(limit), [0.0] * 400, [1.0] * 400)
    span = sent[-1][0] - sent[0][0]
    rate = (len(sent) - 1) / span
    assert 0.90 * 10 <= rate <= 10  # ≥ 90 % of binance's 10 orders/s, never above
    assert sum(1 for t, _ in sent if t == 0.0) == 2  # the burst: 2 % of 100 at once


def test_kraken_counter_lets_a_burst_through_then_follows_the_decay() -> None:
    counter = limits_of("kraken", 1000)[0]
    sent = _run(bucket(counter), [0.0] * 30, [3.0] * 30)  # QueryOrders: ccxt cost 3
    at_once = sum(1 for t, _ in sent if t == 0.0)
    assert at_once == 13  # 90 % of Kraken's 15-call counter
    gaps = {round(b[0] - a[0], 3) for a, b in zip(sent[at_once:], sent[at_once + 1:], strict=False)}
    assert gaps == {round(3 / RATE_SHARE, 3)}  # then one call per ~3.2 s (0.33/s, with margin)


def test_a_call_whose_wait_passes_the_bound_is_refused_and_reserves_nothing() -> None:
    b = Bucket(rate=1.0, burst=1.0)
    first, tats = reserve([0.0], 100.0, [1.0], [b], max_wait=0.5)
    assert first.granted and first.wait_s == 0
    second, after = reserve(tats, 100.0, [1.0], [b], max_wait=0.5)
    assert not second.granted and second.wait_s == pytest.approx(1.0)
    assert after == tats


def test_a_call_counted_on_two_buckets_waits_for_the_slower_and_books_both_at_its_send() -> None:
    fast, slow = Bucket(rate=10.0, burst=1.0), Bucket(rate=1.0, burst=1.0)
    r, tats = reserve([0.0, 105.0], 100.0, [1.0, 1.0], [fast, slow], max_wait=60)
    assert r.wait_s == pytest.approx(5.0)
    assert tats == pytest.approx([105.1, 106.0])


def test_after_retry_after_nothing_is_granted_before_the_stated_time() -> None:
    b = Bucket(rate=10.0, burst=5.0)
    tat = penalized(0.0, 100.0, 30.0, b)
    r, _ = reserve([tat], 100.0, [1.0], [b], max_wait=1e9)
    assert r.wait_s == pytest.approx(30.1)
    assert penalized(500.0, 100.0, 30.0, b) == 500.0  # never shortens a longer hold


def test_penalty_seconds_reads_retry_after_and_defaults_per_status() -> None:
    limited = ccxt.RateLimitExceeded("binanceus POST https://x/api/v3/order 429 Too Many")
    banned = ccxt.DDoSProtection("binanceus GET https://x/api/v3/account 418 I'm a teapot")
    assert penalty_seconds(limited, {"Retry-After": "7"}) == 7.0
    assert penalty_seconds(limited, {}) == DEFAULT_PENALTY_S
    assert penalty_seconds(banned, {}) == DEFAULT_BAN_S
    assert penalty_seconds(banned, {"retry-after": "300"}) == 300.0
    assert penalty_seconds(ccxt.InsufficientFunds("no"), {"Retry-After": "7"}) is None
    assert penalty_seconds(RateBudgetExhausted("ours"), {}) is None  # our own refusal


def test_charges_follow_ccxt_costs_and_count_orders_per_key() -> None:
    limits = limits_of("binanceus", 50)
    order = charges("binanceus", limits, Call("private", "POST", "order", 0.2))
    assert [(lim.name, cost) for lim, cost in order] == [("weight", 0.2), ("orders", 1.0),
                                                         ("orders_day", 1.0)]
    lookup = charges("binanceus", limits, Call("private", "GET", "order", 0.8))
    assert [(lim.name, cost) for lim, cost in lookup] == [("weight", 0.8)]
    kraken = limits_of("kraken", 1000)
    add = charges("kraken", kraken, Call("private", "POST", "AddOrder", 0.0))
    assert [(lim.name, cost) for lim, cost in add] == [("trading", 1.0)]
    query = charges("kraken", kraken, Call("private", "POST", "QueryOrders", 3.0))
    assert [lim.name for lim, _ in query] == ["counter"]
    coinbase = charges("coinbase", limits_of("coinbase", 34),
                       Call("v3 public", "GET", "brokerage/market/products", 3.0))
    assert [(lim.name, lim.scope) for lim, _ in coinbase] == [("public", "ip")]


@pytest.mark.parametrize("exchange", ["binanceus", "kraken", "coinbase"])
def test_a_call_refused_by_the_budget_is_a_rate_limited_rejection_never_ambiguous(
        exchange: str) -> None:
    """Refused before sending: the intent is rejected "rate budget exhausted", and the order is
    not looked up as if it might exist (it was never sent)."""
    from shared.events import RejectCategory
    from shared.exchanges import adapter

    exc = RateBudgetExhausted(f"rate budget exhausted on {exchange} (orders): the next slot is "
                              "in 7.0s, over the 5s bound; not sent")
    classified = adapter(exchange).classify(exc)
    assert classified.category is RejectCategory.RATE_LIMITED
    assert "rate budget exhausted" in classified.message
    assert not adapter(exchange).is_ambiguous(exc)
