"""A reconciliation report → the ReconcileFindings event → the notifier's alert (pure)."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.books.drift import Drift
from services.books.findings import Finding, Kind, Report
from services.books.reconciling import event_of
from services.notifier import core
from services.notifier.core import Level
from shared.events import ControlEvent, ReconcileFindings, adapter

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def report(*findings: Finding, drift: tuple[Drift, ...] = (),
           errors: tuple[str, ...] = ()) -> Report:
    return Report("alice", "kraken", NOW, NOW, findings, drift, errors)


def finding(kind: Kind, note: str = "a sentence") -> Finding:
    return Finding(kind, "pg-" + "a" * 32, "O1", "BTC/USD", note)


def test_a_clean_report_makes_no_event_and_recorded_fills_alone_are_clean() -> None:
    assert event_of(report(finding(Kind.MATCHED), finding(Kind.MISSING_FILL))) is None


def test_a_resolved_order_and_drift_make_one_warning_naming_both() -> None:
    drifted = Drift("USD", Decimal(900), Decimal(1000), Decimal(-100), Decimal("0.0001"))
    event = event_of(report(finding(Kind.MATCHED),
                            finding(Kind.RESOLVED, "the journal said unknown; filled"),
                            drift=(drifted,)))
    assert isinstance(event, ReconcileFindings)
    assert event.counts == {"matched": 1, "resolved": 1}
    assert adapter(ControlEvent).validate_json(event.model_dump_json()) == event  # on the wire
    alert = core.alert_for(event)
    assert alert is not None and alert.kind == "reconcile" and alert.level is Level.WARNING
    assert "alice on kraken: 1 resolved; balance drift in 1 asset(s)" in alert.body
    assert "resolved: the journal said unknown" in alert.body
    assert "USD: balance 900, the journal explains 1000 (drift -100" in alert.body
    assert "piggy reconcile --user alice --exchange kraken" in alert.body


def test_a_round_that_could_not_read_the_exchange_says_so() -> None:
    event = event_of(report(errors=("kraken for alice: NetworkError: down",)))
    assert event is not None
    alert = core.alert_for(event)
    assert alert is not None and alert.title == "Reconciliation could not finish"
    assert "could not finish: kraken for alice: NetworkError" in alert.body


def test_an_event_with_nothing_to_say_makes_no_alert() -> None:
    assert core.alert_for(ReconcileFindings(user_id="a", exchange="kraken")) is None


def test_a_round_moves_the_reconcile_metrics_by_exchange_and_kind() -> None:
    from prometheus_client import generate_latest

    from services.books.reconciler import RoundResult
    from services.books.reconciling import observe
    from shared.metrics import Metrics

    metrics = Metrics("books")
    drifted = Drift("BTC", Decimal(1), Decimal(2), Decimal(-1), Decimal(0))
    result = RoundResult(reports=[report(finding(Kind.MATCHED), finding(Kind.EXTERNAL),
                                         drift=(drifted,))],
                         written=[{"external": 1, "matched": 0}], started=1_700_000_000.0)
    observe(metrics, result)
    text = generate_latest(metrics.registry).decode()
    assert 'piggy_reconcile_rounds_total{exchange="kraken",result="ok"} 1.0' in text
    assert 'piggy_reconcile_findings_total{exchange="kraken",kind="external"} 1.0' in text
    assert 'piggy_reconcile_corrected_total{exchange="kraken",kind="external"} 1.0' in text
    assert 'piggy_reconcile_drift_assets{exchange="kraken"} 1.0' in text
    assert "piggy_reconcile_last_success_timestamp_seconds 1.7e+09" in text
    assert "alice" not in text  # never a user id in a label
    failed = RoundResult(reports=[report(errors=("down",))], written=[{}], started=2e9)
    observe(metrics, failed)
    text = generate_latest(metrics.registry).decode()
    assert 'piggy_reconcile_rounds_total{exchange="kraken",result="failed"} 1.0' in text
    assert "piggy_reconcile_last_success_timestamp_seconds 1.7e+09" in text
