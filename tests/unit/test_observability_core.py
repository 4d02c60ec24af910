"""Metrics derived from events, the log formats and context, and the log story reader. Pure."""
from __future__ import annotations

import io
import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from piggy import logview
from shared import logs
from shared.events import IntentAccepted, Mode, OrderIntent, OrderPlaced, Side, TradeLogged
from shared.metrics import Metrics, closed_gates, dead_letter_kind

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def val(m: Metrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


def body(event: object) -> dict:
    return event.model_dump(mode="json")  # type: ignore[attr-defined]


def test_a_paper_fill_counts_its_closed_gates_and_a_live_fill_its_outcome() -> None:
    m = Metrics("executor")
    paper = TradeLogged(intent_id="i", user_id="u", symbol="BTC/USDT", side=Side.BUY,
                        amount_usd=Decimal(2), mode=Mode.PAPER, status="filled",
                        reasons=["credentials: no API keys saved", "armed: not armed"])
    live = paper.model_copy(update={"mode": Mode.LIVE, "reasons": []})
    m.on_published("piggy:trades", body(paper))
    m.on_published("piggy:trades", body(live))
    m.on_published("piggy:intents:decisions",
                   body(IntentAccepted(intent_id="i", user_id="u", mode=Mode.PAPER, route="paper")))
    assert val(m, "piggy_gate_closed_total", gate="credentials") == 1
    assert val(m, "piggy_gate_closed_total", gate="armed") == 1
    assert val(m, "piggy_live_orders_total", exchange="binanceus", outcome="filled") == 1
    assert val(m, "piggy_decisions_total", mode="PAPER", outcome="accepted") == 1
    assert val(m, "piggy_events_published_total", stream="piggy:trades", type="TradeLogged") == 2


def test_intent_to_ack_latency_is_measured_from_the_events_own_timestamps() -> None:
    m = Metrics("executor")
    intent = OrderIntent(user_id="u", symbol="BTC/USDT", amount_usd=Decimal(2), source="dca")
    placed = OrderPlaced(intent_id=intent.intent_id, client_order_id="c", user_id="u",
                         exchange="binanceus", symbol="BTC/USDT", symbol_id="BTCUSDT",
                         order_id="1", status="closed", correlation_id=intent.correlation_id,
                         ts=intent.ts.__class__.fromtimestamp(intent.ts.timestamp() + 0.25,
                                                              intent.ts.tzinfo))
    m.on_consumed("piggy:intents", body(intent))
    m.on_consumed("piggy:orders:events", body(placed))
    m.on_consumed("piggy:orders:events", body(placed))  # a second answer is not a second ack
    assert val(m, "piggy_intents_received_total", source="dca") == 1
    labels = {"exchange": "binanceus", "outcome": "placed"}
    assert val(m, "piggy_intent_to_ack_seconds_count", **labels) == 1
    assert val(m, "piggy_intent_to_ack_seconds_sum", **labels) == pytest.approx(0.25, abs=1e-3)


def test_no_label_carries_a_user_or_an_intent_id() -> None:
    m = Metrics("executor")
    intent = OrderIntent(user_id="secret-user-name", symbol="BTC/USDT", amount_usd=Decimal(2))
    m.on_consumed("piggy:intents", body(intent))
    from prometheus_client import generate_latest

    text = generate_latest(m.registry).decode()
    assert "secret-user-name" not in text and intent.intent_id not in text


@pytest.mark.parametrize(("reason", "kind"), [
    ("schema: user_id: Field required", "schema"),
    ("undecodable: ValueError: x", "undecodable"),
    ("unparseable entry (UnicodeDecodeError): {...}", "unparseable"),
    ("failed 5 times: RuntimeError: boom", "failed"),
    ("something else", "other"),
])
def test_dead_letter_reasons_become_a_few_kinds(reason: str, kind: str) -> None:
    assert dead_letter_kind(reason) == kind


def test_closed_gates_are_read_from_reason_prefixes_only() -> None:
    assert closed_gates(["kill_switch: engaged", "Something: odd", "daily_cap: over"]) == \
        ["kill_switch", "daily_cap"]


def _record(logger: logging.Logger, fmt: logging.Formatter) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(fmt)
    handler.addFilter(logs.ContextFilter())
    logger.addHandler(handler)
    try:
        with logs.bind_event({"correlation_id": "c1", "intent_id": "i1", "user_id": "u1",
                              "api_secret": "never"}):
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_json_lines_carry_identity_and_the_handled_events_ids_only_inside_a_handler() -> None:
    logs.set_identity("executor", "executor-1")
    logger = logging.getLogger("test.obs.json")
    inside, outside = (json.loads(x) for x in _record(logger, logs.JsonFormatter()).splitlines())
    assert inside["service"] == "executor" and inside["instance"] == "executor-1"
    assert (inside["correlation_id"], inside["intent_id"], inside["user_id"]) == ("c1", "i1", "u1")
    assert inside["level"] == "WARNING" and inside["ts"].endswith("+00:00")
    assert "correlation_id" not in outside and "never" not in json.dumps(inside)


def test_text_lines_are_readable_with_the_ids_at_the_end() -> None:
    logs.set_identity("gateway", "g-1")
    text = _record(logging.getLogger("test.obs.text"), logs.TextFormatter()).splitlines()
    assert "WARNING" in text[0] and "gateway" in text[0] and text[0].endswith("[corr=c1 intent=i1 user=u1]")
    assert "corr=" not in text[1]


@pytest.mark.parametrize(("asked", "tty", "got"), [
    ("", True, "text"), ("", False, "json"), ("JSON", True, "json"), ("text", False, "text")])
def test_format_defaults_to_text_on_a_terminal_and_json_elsewhere(asked: str, tty: bool,
                                                                  got: str) -> None:
    assert logs.choose_format(asked, tty) == got


def test_an_unknown_log_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="PIGGY_LOG_FORMAT"):
        logs.choose_format("xml", True)


def test_the_story_reads_rotated_files_and_text_lines_in_time_order(tmp_path: Path) -> None:
    def j(ts: str, service: str, msg: str, corr: str = "c1") -> str:
        return json.dumps({"ts": ts, "level": "INFO", "service": service, "message": msg,
                           "correlation_id": corr, "intent_id": "i1"})

    (tmp_path / "executor.log.1").write_text(j("2026-01-01T00:00:01.000+00:00", "executor", "a")
                                             + "\nTraceback (most recent call last):\n")
    (tmp_path / "executor.log").write_text(j("2026-01-01T00:00:03.000+00:00", "executor", "c")
                                           + "\n" + j("2026-01-01T00:00:04+00:00", "executor",
                                                      "other", corr="c2") + "\n")
    (tmp_path / "gateway.log").write_text(
        "2026-01-01T00:00:02.000+00:00 INFO    gateway piggy.gateway: b  [corr=c1 intent=i1]\n")
    (tmp_path / "notes.txt").write_text(j("2026-01-01T00:00:00+00:00", "x", "not a log"))
    files = logview.log_files(tmp_path)
    assert [p.name for p in files] == ["executor.log", "executor.log.1", "gateway.log"]
    found = logview.story(logview.read_lines(files), "c1")
    assert [ln.service for ln in found] == ["executor", "gateway", "executor"]
    assert [ln.message.split()[0] for ln in found] == ["a", "piggy.gateway:", "c"]


def test_prometheus_config_scrapes_every_service_in_both_setups() -> None:
    config = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    embedded = {e["labels"]["service"]: e["targets"][0]
                for e in jobs["piggy-embedded"]["static_configs"]}
    assert embedded == {"gateway": "127.0.0.1:8000", "executor": "127.0.0.1:8001",
                        "credentials": "127.0.0.1:8002", "strategy": "127.0.0.1:8003",
                        "notifier": "127.0.0.1:8004", "books": "127.0.0.1:8005"}
    from piggy.stack import Ports

    ports = Ports()
    assert [ports.api, ports.executor, ports.credentials, ports.strategy, ports.notifier,
            ports.books] == [8000, 8001, 8002, 8003, 8004, 8005]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    named = {n for sd in jobs["piggy-compose"]["dns_sd_configs"] for n in sd["names"]}
    assert named == set(embedded) and named <= set(compose)


def test_every_gate_and_live_outcome_is_exported_at_zero_from_the_start() -> None:
    from services.executor.gates import Gate
    from shared.metrics import KNOWN_GATES

    assert set(KNOWN_GATES) == {g.value for g in Gate}
    m = Metrics("executor")
    assert m.registry.get_sample_value("piggy_gate_closed_total", {"gate": "kill_switch"}) == 0
    assert m.registry.get_sample_value("piggy_live_orders_total",
                                       {"exchange": "binanceus", "outcome": "filled"}) == 0
