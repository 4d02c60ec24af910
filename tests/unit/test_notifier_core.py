"""The notifier's pure core: which events alert, de-duplication, rate limit, threshold, scrub."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.notifier import core
from services.notifier.core import Alert, DeadLetterWatch, Limiter, Verdict
from shared.events import (
    CredentialsRejected,
    CredentialsRevoked,
    CredentialsValidated,
    DeadLetter,
    KillSwitchEngaged,
    KillSwitchReleased,
    LiveArmed,
    LiveDisarmed,
    Mode,
    ServiceRestarted,
    Side,
    TradeLogged,
)

pytestmark = pytest.mark.unit


def line(mode: Mode, status: str, **kw: object) -> TradeLogged:
    return TradeLogged(intent_id="i1", user_id="liz", symbol="BTC/USDT", side=Side.BUY,
                       amount_usd=Decimal(2), mode=mode, status=status, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("event", "kind"), [
    (line(Mode.LIVE, "filled", order_id="42"), "order_filled"),
    (line(Mode.LIVE, "rejected", reasons=["insufficient_funds: no USDT"]), "order_rejected"),
    (line(Mode.LIVE, "unknown", reasons=["status unknown after 10 lookups"]), "order_unknown"),
    (KillSwitchEngaged(reason="drill"), "kill_engaged"),
    (KillSwitchReleased(), "kill_released"),
    (LiveArmed(user_id="liz"), "armed"),
    (LiveDisarmed(user_id="liz", reason="gateway heartbeat lost"), "disarmed"),
    (CredentialsRejected(user_id="b", exchange="binanceus", reason_code="unknown_key", reason="x"),
     "keys_rejected"),
    (CredentialsRevoked(user_id="b", exchange="binanceus", reason="deleted"), "keys_revoked"),
    (ServiceRestarted(service="gateway", exit_code=-9, restarts=1, max_restarts=3),
     "service_restarted"),
])
def test_alerting_events_each_make_one_alert(event: object, kind: str) -> None:
    alert = core.alert_for(event)
    assert alert is not None and alert.kind == kind and alert.key == event.event_id  # type: ignore[attr-defined]


@pytest.mark.parametrize("event", [
    line(Mode.PAPER, "filled"), line(Mode.NONE, "rejected", reasons=["armed: not armed"]),
    line(Mode.NONE, "disarmed", reasons=["heartbeat"]), line(Mode.LIVE, "open"),
    CredentialsValidated(user_id="a", exchange="binanceus", can_trade=True, can_withdraw=False),
])
def test_routine_events_make_none(event: object) -> None:
    assert core.alert_for(event) is None


def test_auto_disarm_says_why_and_restart_says_when_it_gave_up() -> None:
    alert = core.alert_for(LiveDisarmed(user_id="liz", reason="gateway heartbeat is 6.0s old"))
    assert alert is not None and "6.0s old" in alert.body
    gave_up = core.alert_for(ServiceRestarted(service="executor", exit_code=1, restarts=3,
                                              max_restarts=3, gave_up=True))
    assert gave_up is not None and "NOT restarted" in gave_up.body


def alert(key: str = "e1", body: str = "b") -> Alert:
    return Alert("armed", "t", body, key=key)


def test_the_same_event_or_the_same_text_is_sent_once() -> None:
    lim = Limiter(per_minute=100, dedup_s=300, max_age_s=600)
    assert lim.admit(alert("e1", "one"), 0) is Verdict.SEND
    assert lim.admit(alert("e1", "one"), 1) is Verdict.DUPLICATE  # redelivered
    assert lim.admit(alert("e2", "one"), 2) is Verdict.DUPLICATE  # same words, other event
    assert lim.admit(alert("e3", "two"), 3) is Verdict.SEND
    assert lim.admit(alert("e4", "one"), 1000) is Verdict.SEND  # after the window


def test_rate_limit_counts_what_it_drops_and_says_so_next() -> None:
    lim = Limiter(per_minute=2, dedup_s=0, max_age_s=600)
    verdicts = [lim.admit(alert(f"e{i}", f"b{i}"), 10 + i) for i in range(5)]
    assert verdicts == [Verdict.SEND] * 2 + [Verdict.RATE_LIMITED] * 3
    assert lim.admit(alert("e9", "later"), 80) is Verdict.SEND
    sent = core.with_suppressed(alert("e9", "later"), lim.take_suppressed())
    assert "3 more alert(s) were suppressed" in sent.body
    assert lim.take_suppressed() == 0


def test_old_events_are_not_news() -> None:
    lim = Limiter(per_minute=10, dedup_s=60, max_age_s=600)
    assert lim.admit(alert(), now=10_000, event_ts=10_000 - 601) is Verdict.STALE
    assert lim.admit(alert(), now=10_000, event_ts=10_000 - 5) is Verdict.SEND


def letter(ts: datetime | None = None) -> DeadLetter:
    return DeadLetter(stream="piggy:intents", group="executor", entry_id="1-0",
                      reason="schema: user_id: Field required", body="{}",
                      **({"ts": ts} if ts else {}))


def test_dead_letters_alert_once_past_the_threshold_in_the_window() -> None:
    watch = DeadLetterWatch(threshold=3, window_s=60)
    assert watch.note(letter(), 0) is None
    assert watch.note(letter(), 100) is None  # the first fell out of the window
    assert watch.note(letter(), 110) is None
    first = watch.note(letter(), 120)
    assert first is not None and "3 entries" in first.body and "piggy:intents" in first.body
    assert watch.note(letter(), 121) is None  # quiet for a window
    assert watch.note(letter(), 182) is None and watch.note(letter(), 183) is None
    assert watch.note(letter(), 185) is not None  # three more in the next window


def test_scrub_masks_anything_key_like_and_keeps_ids() -> None:
    secret = "A" * 20 + "b9" * 22
    corr = "0855f6fec0df47d9978a814529a36013"
    text = core.scrub(f"exchange said: bad signature for {secret} (correlation {corr})")
    assert secret not in text and "[masked]" in text and corr in text
    assert len(core.scrub("x " * 2000)) <= 900


def test_filled_alert_names_the_order_and_the_correlation_id() -> None:
    filled = line(Mode.LIVE, "filled", order_id="1000", price=Decimal("49891.31"),
                  filled=Decimal("0.00004"), cost=Decimal("1.99"),
                  ts=datetime.now(UTC) - timedelta(seconds=1))
    alert_ = core.alert_for(filled)
    assert alert_ is not None
    assert "order 1000" in alert_.body and filled.correlation_id in alert_.body
    assert "liz" in alert_.body and alert_.level is core.Level.SUCCESS
