"""What to tell the operator, and when not to. Pure: events and a clock in, decisions out.

``alert_for`` turns one event into at most one ``Alert`` (or none: most events are not worth
a message). ``DeadLetterWatch`` raises one alert when dead letters pile up past a threshold
in a window. ``Limiter`` drops repeats (the same event redelivered, or the same message
again within the de-duplication window) and caps the rate; what it drops is counted and
said in the next message that goes out. ``scrub`` is the last guard before sending:
messages are built from named fields only, and anything that looks like a key or secret is
masked anyway.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.events import (
    CredentialsRejected,
    CredentialsRevoked,
    DeadLetter,
    KillSwitchEngaged,
    KillSwitchReleased,
    LiveArmed,
    LiveDisarmed,
    ReconcileFindings,
    ServiceRestarted,
    TradeLogged,
)

_SECRETISH = re.compile(r"[A-Za-z0-9+/=_-]{40,}")
_MAX_BODY = 900


class Level(StrEnum):
    """apprise's notify types."""

    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True)
class Alert:
    kind: str
    title: str
    body: str
    level: Level = Level.INFO
    key: str = ""  # the event's id: a redelivered event is never sent twice


def scrub(text: str) -> str:
    """Mask anything 40+ characters of key-like text (API secrets are 64), cap the length."""
    return _SECRETISH.sub("[masked]", text)[:_MAX_BODY]


def _trade(e: TradeLogged) -> Alert | None:
    if e.mode.value != "LIVE" or e.status not in ("filled", "rejected", "unknown"):
        return None
    what = f"{e.side.value} ${e.amount_usd} {e.symbol} on {e.exchange} for user {e.user_id}"
    if e.status == "filled":
        price = f" at {e.price}" if e.price is not None else ""
        return Alert("order_filled", "LIVE order filled",
                     f"{what}: order {e.order_id}, filled {e.filled}{price}, cost ${e.cost} "
                     f"(correlation {e.correlation_id})", Level.SUCCESS, e.event_id)
    level = Level.FAILURE if e.status == "unknown" else Level.WARNING
    return Alert(f"order_{e.status}", f"LIVE order {e.status}",
                 f"{what}: {'; '.join(e.reasons) or 'no reason given'} "
                 f"(correlation {e.correlation_id})", level, e.event_id)


def _reconcile(e: ReconcileFindings) -> Alert | None:
    """A round that found the books and the exchange apart: what, and how much."""
    if not (e.findings or e.drift or e.errors):
        return None
    counts = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(e.counts.items())
                       if n and kind != "matched")
    lines = [f"user {e.user_id} on {e.exchange}: {counts or 'no corrections'}"
             + (f"; balance drift in {len(e.drift)} asset(s)" if e.drift else "")]
    lines += [f"- {f}" for f in e.findings[:5]] + [f"- drift {d}" for d in e.drift[:5]]
    lines += [f"- could not finish: {err}" for err in e.errors[:2]]
    lines.append(f"`piggy reconcile --user {e.user_id} --exchange {e.exchange}` shows the "
                 "report; corrections are in the audit table.")
    title = ("Books reconciled: the exchange differed" if e.findings or e.drift
             else "Reconciliation could not finish")
    return Alert("reconcile", title, "\n".join(lines), Level.WARNING, e.event_id)


def alert_for(event: Any) -> Alert | None:
    """The alert one event deserves, if any."""
    match event:
        case TradeLogged():
            return _trade(event)
        case KillSwitchEngaged():
            return Alert("kill_engaged", "EMERGENCY STOP engaged",
                         f"by {event.by}: {event.reason or 'no reason given'}. No live order "
                         "leaves until `piggy resume`.", Level.FAILURE, event.event_id)
        case KillSwitchReleased():
            return Alert("kill_released", "Emergency stop released",
                         f"by {event.by}: trading may resume (live still needs every gate).",
                         Level.WARNING, event.event_id)
        case LiveArmed():
            where = f" on {event.exchange}" if event.exchange else ""
            return Alert("armed", "LIVE trading armed", f"user {event.user_id} is armed for live "
                         f"trading{where}.", Level.WARNING, event.event_id)
        case LiveDisarmed():
            where = f" on {event.exchange}" if event.exchange else ""
            return Alert("disarmed", "LIVE trading disarmed",
                         f"user {event.user_id}{where}: {event.reason}", Level.WARNING,
                         event.event_id)
        case CredentialsRejected():
            return Alert("keys_rejected", "API keys rejected",
                         f"user {event.user_id} on {event.exchange}: {event.reason_code}: "
                         f"{event.reason}", Level.WARNING, event.event_id)
        case CredentialsRevoked():
            return Alert("keys_revoked", "API keys revoked",
                         f"user {event.user_id} on {event.exchange}: {event.reason}",
                         Level.FAILURE, event.event_id)
        case ReconcileFindings():
            return _reconcile(event)
        case ServiceRestarted():
            what = ("died again and was NOT restarted" if event.gave_up
                    else f"died and was restarted ({event.restarts}/{event.max_restarts})")
            return Alert("service_restarted", f"{event.service} {what.split(' and ')[0]}",
                         f"{event.service} {what}; exit code {event.exit_code}.",
                         Level.FAILURE, event.event_id)
    return None


def event_time(event: Any) -> datetime | None:
    return getattr(event, "ts", None)


@dataclass
class DeadLetterWatch:
    """One alert when ``threshold`` dead letters arrive within ``window_s``; then quiet for
    a window."""

    threshold: int
    window_s: float
    seen: deque[float] = field(default_factory=deque)
    quiet_until: float = 0.0

    def note(self, letter: DeadLetter, now: float) -> Alert | None:
        self.seen.append(now)
        while self.seen and self.seen[0] < now - self.window_s:
            self.seen.popleft()
        if len(self.seen) < self.threshold or now < self.quiet_until:
            return None
        self.quiet_until = now + self.window_s
        return Alert("dead_letters", "Dead letters piling up",
                     f"{len(self.seen)} entries dead-lettered in the last {self.window_s:g}s; "
                     f"latest from {letter.stream} ({letter.group}): {letter.reason[:200]}. "
                     "See the piggy:deadletter stream.", Level.WARNING, f"dl:{now}")


class Verdict(StrEnum):
    SEND = "sent"
    DUPLICATE = "duplicate"
    RATE_LIMITED = "rate_limited"
    STALE = "stale"


@dataclass
class Limiter:
    """De-duplication (by event id, and by identical text within ``dedup_s``) and a rate cap
    (``per_minute`` messages in any 60 s)."""

    per_minute: int
    dedup_s: float
    max_age_s: float
    sent_at: deque[float] = field(default_factory=deque)
    seen: dict[str, float] = field(default_factory=dict)
    suppressed: int = 0

    def admit(self, alert: Alert, now: float, event_ts: float | None = None) -> Verdict:
        if event_ts is not None and now - event_ts > self.max_age_s:
            return Verdict.STALE  # e.g. history read on a first start: not news any more
        self._forget(now)
        keys = [k for k in (f"id:{alert.key}" if alert.key else "",
                            f"text:{alert.title}\n{alert.body}") if k]
        if any(k in self.seen for k in keys):
            return Verdict.DUPLICATE
        while self.sent_at and self.sent_at[0] <= now - 60:
            self.sent_at.popleft()
        if len(self.sent_at) >= self.per_minute:
            self.suppressed += 1
            return Verdict.RATE_LIMITED
        self.sent_at.append(now)
        for k in keys:
            self.seen[k] = now
        return Verdict.SEND

    def take_suppressed(self) -> int:
        n, self.suppressed = self.suppressed, 0
        return n

    def _forget(self, now: float) -> None:
        horizon = now - max(self.dedup_s, self.max_age_s)
        for k in [k for k, t in self.seen.items() if t < horizon]:
            del self.seen[k]


def with_suppressed(alert: Alert, suppressed: int) -> Alert:
    if not suppressed:
        return alert
    return Alert(alert.kind, alert.title, f"{alert.body}\n({suppressed} more alert(s) were "
                 "suppressed by the rate limit; see the notifier log)", alert.level, alert.key)
