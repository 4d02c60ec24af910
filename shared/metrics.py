"""Prometheus metrics of one process, derived from the events it publishes and consumes.

Nothing in a handler counts anything: ``BusObserver`` (a faststream middleware on the bus)
sees every event published and consumed and updates the counters from the event itself.
Each domain counter moves in exactly one place, so summing over services never counts an
event twice: decisions, trades, exchange errors, credential outcomes and dead letters when
published (each has one publisher), intents when consumed (only the executor reads them).
State that is not an event (kill switch, armed users, consumer groups) is read from Redis
when ``/metrics`` is scraped. Labels are low-cardinality: never a user id or an intent id.
"""
from __future__ import annotations

import re
from collections import Counter as Counter_
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import redis.asyncio as aredis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared import state
from shared.events import RejectCategory
from shared.exchanges import EXCHANGES

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_GATE = re.compile(r"^([a-z_]{2,32}): ")
_DL_KIND = re.compile(r"^(schema|undecodable|unparseable|failed)\b")
_REMEMBERED_INTENTS = 10_000
# Known label values, exported at 0 from the start: a series born at 1 is invisible to
# rate()/increase(), so the first live order would never show on a dashboard.
KNOWN_GATES = ("allow_live", "credentials", "gateway_heartbeat", "armed", "kill_switch",
               "dry_run", "min_amount", "max_amount", "daily_cap")
KNOWN_EXCHANGES = ("binanceus",)
KNOWN_REFUSALS = ("pre_trade", "unknown_symbol", "no_credentials", "not_live", "halted")
LIVE_OUTCOMES = ("filled", "open", "rejected", "unknown")


_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/-]")


@lru_cache(maxsize=4096)
def _clean(text: str, limit: int) -> str:
    return _UNSAFE.sub("_", text.strip())[:limit] or "none"


def _label(value: Any, limit: int = 40) -> str:
    """A label value: a few known words per label, so cleaned once each (cached)."""
    return _clean(str(value or ""), limit)


def _ts(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except (TypeError, ValueError):
        return None


def dead_letter_kind(reason: str) -> str:
    """``schema`` | ``undecodable`` | ``unparseable`` | ``failed`` | ``other``: the reason's kind."""
    found = _DL_KIND.match(reason.strip().removeprefix("unparseable entry").strip() or reason)
    if reason.startswith("unparseable"):
        return "unparseable"
    return found.group(1) if found else "other"


def closed_gates(reasons: Iterable[str]) -> list[str]:
    """Gate names from an executor reason list (each reason reads ``gate: sentence``)."""
    return [m.group(1) for r in reasons if (m := _GATE.match(r))]


class Metrics:
    """Every metric of one process, in its own registry (several services may share a test
    process)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = r = CollectorRegistry()
        self.published = Counter("piggy_events_published_total", "Events published, by stream and type",
                                 ["stream", "type"], registry=r)
        self.consumed = Counter("piggy_events_consumed_total", "Events consumed, by stream and type",
                                ["stream", "type"], registry=r)
        self.intents = Counter("piggy_intents_received_total", "Order intents received by the "
                               "executor, by source", ["source"], registry=r)
        self.decisions = Counter("piggy_decisions_total", "Executor decisions, by mode and outcome",
                                 ["mode", "outcome"], registry=r)
        self.gate_closed = Counter("piggy_gate_closed_total", "Intents that found a live gate "
                                   "closed, per gate", ["gate"], registry=r)
        self.live_orders = Counter("piggy_live_orders_total", "Live orders by final outcome",
                                   ["exchange", "outcome"], registry=r)
        self.exchange_errors = Counter("piggy_exchange_errors_total", "Orders the exchange "
                                       "refused or failed, by category", ["exchange", "category"],
                                       registry=r)
        self.refusals = Counter("piggy_order_refusals_total", "Orders refused before anything "
                                "was sent to the exchange (below its minimum, unknown symbol, no "
                                "keys, kill switch, …), by reason", ["reason"], registry=r)
        self.credentials = Counter("piggy_credential_validations_total", "Key validation outcomes",
                                   ["exchange", "outcome", "reason"], registry=r)
        self.dead_letters = Counter("piggy_dead_letters_total", "Entries dead-lettered, by stream "
                                    "and kind of reason", ["stream", "reason"], registry=r)
        self.intent_to_ack = Histogram("piggy_intent_to_ack_seconds", "Intent published → the "
                                       "exchange's answer on the order-events stream",
                                       ["exchange", "outcome"], buckets=LATENCY_BUCKETS, registry=r)
        self.exchange_rtt = Histogram("piggy_exchange_roundtrip_seconds", "Gateway: order request "
                                      "taken → the exchange's answer published",
                                      ["exchange", "operation"], buckets=LATENCY_BUCKETS,
                                      registry=r)
        self.kill_switch = Gauge("piggy_kill_switch_engaged", "1 while the emergency stop is "
                                 "engaged", registry=r)
        self.armed_users = Gauge("piggy_live_armed_users", "Users with live trading armed, "
                                 "per exchange (arming is per user and exchange)", ["exchange"],
                                 registry=r)
        self.pending = Gauge("piggy_consumer_pending", "Entries delivered to a group and not "
                             "yet acked", ["stream", "group"], registry=r)
        self.lag = Gauge("piggy_consumer_lag", "Entries in the stream not yet delivered to the "
                         "group", ["stream", "group"], registry=r)
        self.alerts = Counter("piggy_alerts_total", "Alerts (notifier), by kind and what "
                              "happened to them", ["kind", "outcome"], registry=r)
        self.reconcile_rounds = Counter("piggy_reconcile_rounds_total", "Reconciliation rounds "
                                        "per account, by exchange and result (ok, failed)",
                                        ["exchange", "result"], registry=r)
        self.reconcile_findings = Counter("piggy_reconcile_findings_total", "What reconciliation "
                                          "found (matched, mismatch, resolved, external...)",
                                          ["exchange", "kind"], registry=r)
        self.reconcile_corrected = Counter("piggy_reconcile_corrected_total", "Rows the "
                                           "reconciler wrote into the journal, by finding kind",
                                           ["exchange", "kind"], registry=r)
        self.reconcile_drift = Gauge("piggy_reconcile_drift_assets", "Assets whose balance "
                                     "drifted beyond fees and rounding at the last round",
                                     ["exchange"], registry=r)
        self.reconcile_last_success = Gauge("piggy_reconcile_last_success_timestamp_seconds",
                                            "When a reconciliation round last finished every "
                                            "account (unix time)", registry=r)
        self._intent_ts: OrderedDict[str, float] = OrderedDict()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._known_at_zero()

    def _known_at_zero(self) -> None:
        for mode, outcome in (("LIVE", "accepted"), ("PAPER", "accepted"), ("NONE", "rejected")):
            self.decisions.labels(mode, outcome)
        for gate in KNOWN_GATES:
            self.gate_closed.labels(gate)
        for reason in KNOWN_REFUSALS:
            self.refusals.labels(reason)
        for exchange in KNOWN_EXCHANGES:
            for outcome in LIVE_OUTCOMES:
                self.live_orders.labels(exchange, outcome)
            for category in RejectCategory:
                self.exchange_errors.labels(exchange, category.value)
            for outcome in ("placed", "rejected"):
                self.intent_to_ack.labels(exchange, outcome)
            self.exchange_rtt.labels(exchange, "create_order")

    def _at(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, kept: prometheus_client checks and locks on every
        ``labels`` call, and the events of a process move a handful of label sets, each
        thousands of times (the labels are low-cardinality, so this stays small)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # ---- from events --------------------------------------------------------------------

    def on_published(self, stream: str, body: Any, handling: Mapping[str, Any] | None = None,
                     handling_for_s: float | None = None) -> None:
        """Count one published event. ``handling`` is the event being consumed when it was
        published (if any) and ``handling_for_s`` how long that has taken so far."""
        if not isinstance(body, Mapping):
            return
        kind = str(body.get("type") or ("DeadLetter" if "entry_id" in body else "?"))
        self._at(self.published, stream, _label(kind)).inc()
        exchange = _label(body.get("exchange"))
        if kind == "IntentAccepted":
            self._at(self.decisions, _label(body.get("mode")), "accepted").inc()
        elif kind == "IntentRejected":
            self._at(self.decisions, "NONE", "rejected").inc()
        elif kind == "TradeLogged":
            self._trade(body, exchange)
        elif kind in ("OrderPlaced", "OrderRejected"):
            if kind == "OrderRejected" and body.get("sent") is False:
                self._at(self.refusals, _label(body.get("code"))).inc()
            elif kind == "OrderRejected":
                self._at(self.exchange_errors, exchange, _label(body.get("category"))).inc()
            if handling is not None and handling.get("type") == "OrderRequested" \
                    and handling_for_s is not None:
                self._at(self.exchange_rtt, exchange, "create_order").observe(handling_for_s)
        elif kind == "CredentialsValidated":
            reason = "ok" if body.get("can_trade") else "no_trade_permission"
            self._at(self.credentials, exchange, "validated", reason).inc()
        elif kind == "CredentialsRejected":
            self._at(self.credentials, exchange, "rejected", _label(body.get("reason_code"))).inc()
        elif kind == "CredentialsRevoked":
            self._at(self.credentials, exchange, "revoked", "revoked").inc()
        elif kind == "DeadLetter":
            self._at(self.dead_letters, _label(body.get("stream"), 64),
                                     dead_letter_kind(str(body.get("reason", "")))).inc()

    def _trade(self, body: Mapping[str, Any], exchange: str) -> None:
        mode, status = body.get("mode"), str(body.get("status", ""))
        if mode == "LIVE":
            self._at(self.live_orders, exchange, _label(status)).inc()
        elif mode == "PAPER" or (mode == "NONE" and status == "rejected"):
            for gate in closed_gates(body.get("reasons") or []):
                self._at(self.gate_closed, gate).inc()

    def on_consumed(self, stream: str, body: Any, now: float | None = None) -> None:
        if not isinstance(body, Mapping):
            self._at(self.consumed, stream, "?").inc()
            return
        kind = str(body.get("type") or "?")
        self._at(self.consumed, stream, _label(kind)).inc()
        corr = str(body.get("correlation_id") or "")
        if kind == "OrderIntent":
            self._at(self.intents, _label(body.get("source"))).inc()
            ts = _ts(body.get("ts"))
            if corr and ts is not None:
                self._intent_ts[corr] = ts
                while len(self._intent_ts) > _REMEMBERED_INTENTS:
                    self._intent_ts.popitem(last=False)
        elif kind in ("OrderPlaced", "OrderRejected") and body.get("code") != "status_unknown":
            started, answered = self._intent_ts.pop(corr, None), _ts(body.get("ts"))
            if started is not None and answered is not None:
                outcome = "placed" if kind == "OrderPlaced" else "rejected"
                self._at(self.intent_to_ack, _label(body.get("exchange")), outcome).observe(
                    max(0.0, answered - started))

    # ---- from Redis, at scrape time -----------------------------------------------------

    async def refresh(self, redis: aredis.Redis, groups: Iterable[tuple[str, str]]) -> None:
        self.kill_switch.set(1 if await redis.exists(state.KILL) else 0)
        armed = Counter_([parsed[1] if (parsed := state.parse_armed_field(_text(f))) else "legacy"
                          for f in await redis.hkeys(state.ARMED)])
        for exchange in {*EXCHANGES, *armed}:
            self.armed_users.labels(exchange).set(armed.get(exchange, 0))
        wanted = set(groups)
        for stream in sorted({s for s, _ in wanted}):
            try:
                infos = await redis.xinfo_groups(stream)
            except aredis.ResponseError:  # the stream does not exist yet
                continue
            for info in infos:
                name = _text(info.get("name"))
                if (stream, name) not in wanted:
                    continue
                self.pending.labels(stream, name).set(int(info.get("pending") or 0))
                lag = info.get("lag")
                self.lag.labels(stream, name).set(int(lag) if lag is not None else 0)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)

