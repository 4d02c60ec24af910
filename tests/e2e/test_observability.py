"""Metrics, logs and alerts of the real stack after one live and one paper test buy.

One stack (every service a process, the sandbox over HTTP, a real Redis), a JSON-webhook
receiver for alerts and Debian's Prometheus scraping the services with the job from
deploy/prometheus.yml. The scenario runs once; each test checks one thing an operator
relies on.
"""
from __future__ import annotations

import json
import math
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from piggy.stack import Stack
from sandbox.admin import SandboxAdmin
from shared import streams
from tests.e2e.test_live import LIVE_ENV, piggy_env
from tests.support.observability import (
    PROMETHEUS,
    REPO,
    Prometheus,
    Receiver,
    Scrape,
    running_prometheus,
    scrape,
)
from tests.support.redis_server import RedisServer
from tests.support.stack import piggy, running_stack

pytestmark = pytest.mark.e2e

SERVICES = ("gateway", "executor", "credentials", "strategy", "notifier", "books")
EXPECTED_ALERTS = {"API keys rejected", "LIVE trading armed", "LIVE order filled",
                   "EMERGENCY STOP engaged", "Emergency stop released", "LIVE trading disarmed",
                   "Dead letters piling up", "strategy died"}


@dataclass
class Scenario:
    stack: Stack
    receiver: Receiver
    before: dict[str, Scrape]
    after: dict[str, Scrape]
    final: dict[str, Scrape]
    live_correlation: str
    secrets: list[str]
    prometheus: Prometheus | None
    prometheus_skip: str = ""
    notes: list[str] = field(default_factory=list)


def _scrape_all(stack: Stack) -> dict[str, Scrape]:
    urls = stack.metrics_urls
    assert set(urls) == set(SERVICES), urls
    return {name: scrape(url) for name, url in urls.items()}


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _ok(result) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def scenario(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    if not redis_server.running:
        redis_server.start()
    redis_server.flush()
    home = tmp_path_factory.mktemp("obs")
    receiver = Receiver()
    env = LIVE_ENV | {"PIGGY_ALERT_URLS": receiver.url, "PIGGY_ALERT_DEADLETTER_THRESHOLD": "3",
                      "PIGGY_LOG_FORMAT": "json"}
    with receiver.running(), running_stack(home, redis_server.url, env) as stack:
        prom_ctx = None
        if shutil.which("prometheus") or Path(PROMETHEUS).exists():
            ports = {"gateway": stack.ports.api, "executor": stack.ports.executor,
                     "credentials": stack.ports.credentials, "strategy": stack.ports.strategy,
                     "notifier": stack.ports.notifier, "books": stack.ports.books}
            prom_ctx = running_prometheus(home / "prometheus", ports)
        prom = prom_ctx.__enter__() if prom_ctx else None
        try:
            yield _run(stack, receiver, prom)
        finally:
            if prom_ctx:
                prom_ctx.__exit__(None, None, None)


def _run(stack: Stack, receiver: Receiver, prom: Prometheus | None) -> Scenario:
    before = _scrape_all(stack)
    key = SandboxAdmin(stack.sandbox_url).create_key(balances={"USDT": "1000"})
    bad_secret = secrets.token_hex(32)
    _ok(piggy_env(stack, {"PIGGY_API_SECRET": key["secret"]}, "keys", "set", "--user", "liz",
                  "--api-key", key["api_key"]))
    piggy_env(stack, {"PIGGY_API_SECRET": bad_secret}, "keys", "set", "--user", "bob",
              "--api-key", "unknown-key-" + secrets.token_hex(8))
    _ok(piggy(stack, "live", "arm", "--user", "liz"))
    live = piggy(stack, "test-buy", "--usd", "2", "--user", "liz")
    _ok(live)
    assert "LIVE filled" in live.stdout, live.stdout
    paper = piggy(stack, "test-buy", "--usd", "2", "--user", "pat")
    _ok(paper)
    assert "PAPER filled" in paper.stdout, paper.stdout
    after = _scrape_all(stack)

    _ok(piggy(stack, "kill", "--reason", "drill"))
    _ok(piggy(stack, "resume"))
    _ok(piggy(stack, "live", "disarm", "--user", "liz"))
    _dead_letters(stack, 3)
    strategy = next(c for c in stack.children if c.name == "strategy")
    assert strategy.proc is not None
    strategy.proc.kill()
    strategy.proc.wait(10)
    reports = stack.supervise_once()
    assert any("strategy died" in r for r in reports), reports
    deadline = time.monotonic() + 30  # the restart comes after the supervisor's backoff
    while not any(r.startswith("strategy restarted") for r in reports):
        assert time.monotonic() < deadline, reports
        time.sleep(0.1)
        reports += stack.supervise_once()
    _wait(lambda: len(receiver.got) >= len(EXPECTED_ALERTS), 40, "every alert")
    time.sleep(2)  # anything sent twice would land now
    trades = json.loads(piggy(stack, "trades", "--user", "liz", "--json").stdout)
    live_line = next(t for t in trades if t["mode"] == "LIVE")
    token = (stack.home / "api-token").read_text().strip()
    master = (stack.home / "master.key").read_bytes().hex() if (stack.home / "master.key").exists() else ""
    return Scenario(stack, receiver, before, after, _scrape_all(stack),
                    live_line["correlation_id"], [key["secret"], bad_secret, token] +
                    ([master] if master else []), prom)


def _dead_letters(stack: Stack, n: int) -> None:
    import redis

    client = redis.Redis.from_url(stack.redis_url or "")
    try:
        for i in range(n):
            client.xadd(streams.INTENTS, {"junk": f"not an intent {i}"})
    finally:
        client.close()


def delta(s: Scenario, service: str, name: str, **labels: str) -> float:
    return s.after[service].value(name, **labels) - s.before[service].value(name, **labels)


def test_counters_moved_by_exactly_what_happened(scenario: Scenario) -> None:
    def d(svc: str, name: str, **lab: str) -> float:
        return delta(scenario, svc, name, **lab)

    # executor: two intents from the CLI, one LIVE and one PAPER decision
    assert d("executor", "piggy_intents_received_total") == 2
    assert d("executor", "piggy_intents_received_total", source="test-buy") == 2
    assert d("executor", "piggy_decisions_total", mode="LIVE", outcome="accepted") == 1
    assert d("executor", "piggy_decisions_total", mode="PAPER", outcome="accepted") == 1
    assert d("executor", "piggy_decisions_total") == 2
    assert d("executor", "piggy_live_orders_total", exchange="binanceus", outcome="filled") == 1
    assert d("executor", "piggy_live_orders_total") == 1
    # the paper buy (user pat: no keys, not armed) found exactly those two gates closed
    assert d("executor", "piggy_gate_closed_total", gate="credentials") == 1
    assert d("executor", "piggy_gate_closed_total", gate="armed") == 1
    assert d("executor", "piggy_gate_closed_total") == 2
    assert d("executor", "piggy_intent_to_ack_seconds_count", exchange="binanceus",
             outcome="placed") == 1
    assert 0 < d("executor", "piggy_intent_to_ack_seconds_sum") < 20
    assert scenario.after["executor"].value("piggy_live_armed_users") == 1
    assert scenario.after["executor"].value("piggy_kill_switch_engaged") == 0
    # gateway: one order request taken, one answer from the exchange, no error
    assert d("gateway", "piggy_exchange_roundtrip_seconds_count", exchange="binanceus",
             operation="create_order") == 1
    assert d("gateway", "piggy_events_published_total", stream=streams.ORDER_EVENTS,
             type="OrderPlaced") == 1
    assert d("gateway", "piggy_exchange_errors_total") == 0
    assert d("gateway", "piggy_events_consumed_total", stream=streams.ORDER_REQUESTS) == 1
    # credentials: liz validated, bob rejected
    assert d("credentials", "piggy_credential_validations_total", outcome="validated",
             reason="ok") == 1
    assert d("credentials", "piggy_credential_validations_total", outcome="rejected") == 1
    # nothing dead-lettered by the buys; no service counts another's decisions
    for service in SERVICES:
        assert delta(scenario, service, "piggy_dead_letters_total") == 0
        if service != "executor":
            assert delta(scenario, service, "piggy_decisions_total") == 0
            assert delta(scenario, service, "piggy_intents_received_total") == 0
        # faststream's own middleware is there too
        assert "faststream_received_messages" in scenario.after[service].families
    # later: 3 junk intents dead-lettered by the executor (and counted nowhere else)
    final = scenario.final
    assert final["executor"].value("piggy_dead_letters_total", stream=streams.INTENTS,
                                   reason="undecodable") \
        + final["executor"].value("piggy_dead_letters_total", stream=streams.INTENTS,
                                  reason="schema") == 3
    assert final["executor"].value("piggy_intents_received_total") == 2
    assert final["notifier"].value("piggy_alerts_total", outcome="sent") == len(EXPECTED_ALERTS)


def test_pending_and_lag_per_stream_and_group(scenario: Scenario) -> None:
    final = scenario.final["executor"]
    assert final.value("piggy_consumer_pending", stream=streams.INTENTS, group="executor") == 0
    assert final.value("piggy_consumer_lag", stream=streams.INTENTS, group="executor") == 0
    groups = {(lab["stream"], lab["group"]) for n, lab, _ in final.samples
              if n == "piggy_consumer_pending"}
    assert (streams.ORDER_EVENTS, "executor") in groups


_PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "rate", "increase", "irate", "by",
                 "without", "histogram_quantile", "le", "on", "ignoring", "and", "or", "unless",
                 "offset", "bool", "topk", "bottomk", "delta", "abs", "clamp_min"}


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (label matchers, groupings, ranges stripped)."""
    text = re.sub(r"\{[^}]*\}", "", expr)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r'"[^"]*"', "", text)
    words = re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*(\(?)", text)
    return {w for w, call in words if not call and w not in _PROMQL_WORDS}


def test_grafana_dashboard_uses_only_metrics_that_exist(scenario: Scenario) -> None:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "cryptopiggy.json").read_text())
    exposed: set[str] = set()
    for s in scenario.final.values():
        exposed |= s.names()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    used = set().union(*(metric_names(e) for e in exprs))
    assert {"piggy_live_orders_total", "piggy_intent_to_ack_seconds_bucket",
            "piggy_kill_switch_engaged"} <= used
    missing = {n for n in used if n not in exposed}
    assert not missing, f"dashboard panels use metrics no service exposes: {sorted(missing)}"


def test_correlation_id_from_trades_gives_the_whole_story(scenario: Scenario) -> None:
    story = piggy(scenario.stack, "logs", "--correlation", scenario.live_correlation)
    _ok(story)
    print(story.stdout)
    lines = story.stdout.splitlines()
    stamps = [ln.split(" ", 1)[0] for ln in lines]
    assert stamps == sorted(stamps)
    services = {ln.split()[1] for ln in lines}
    assert {"executor", "gateway", "notifier"} <= services, story.stdout

    def at(service: str, text: str) -> int:
        return next(i for i, ln in enumerate(lines) if ln.split()[1] == service and text in ln)

    # A "published" line is written once the write returned, so a fast consumer in another
    # process may log its own step first: only the causal order that logging keeps is checked
    # (the gateway's step follows an exchange round trip; the others are one process each).
    requested, placed = at("executor", "published OrderRequested"), at("gateway", "published OrderPlaced")
    traded, alerted = at("executor", "published TradeLogged"), at("notifier", "alert order_filled sent")
    assert requested < placed and requested < traded < alerted, story.stdout
    assert at("executor", "handled OrderIntent") < at("gateway", "handled OrderRequested")
    unknown = piggy(scenario.stack, "logs", "--correlation", "no-such-id")
    assert unknown.returncode == 1 and "no line with correlation id no-such-id" in unknown.stderr


def test_webhook_gets_one_message_per_alerting_event_and_no_secret(scenario: Scenario) -> None:
    got = scenario.receiver.got
    titles = [m.get("title") for m in got]
    print("\n".join(json.dumps(m) for m in got))
    assert sorted(titles) == sorted(EXPECTED_ALERTS), titles
    filled = next(m for m in got if m["title"] == "LIVE order filled")
    assert "liz" in filled["message"] and scenario.live_correlation in filled["message"]
    disarmed = next(m for m in got if m["title"] == "LIVE trading disarmed")
    assert "liz" in disarmed["message"]
    assert "drill" in next(m for m in got if m["title"] == "EMERGENCY STOP engaged")["message"]
    for raw in scenario.receiver.raw:
        for secret in scenario.secrets:
            assert secret not in raw


def test_no_secret_in_any_log_file(scenario: Scenario) -> None:
    for path in (scenario.stack.home / "logs").glob("*.log*"):
        text = path.read_text(errors="replace")
        for secret in scenario.secrets:
            assert secret not in text, path.name


def test_prometheus_scrapes_every_service_and_answers_promql(scenario: Scenario) -> None:
    prom = scenario.prometheus
    if prom is None:
        pytest.skip(f"prometheus binary not found ({PROMETHEUS}; Debian package `prometheus`)")
    up = prom.wait_value('count(up{job="piggy-embedded"} == 1)', lambda v: v == len(SERVICES))
    assert up == len(SERVICES)
    filled = prom.wait_value('sum(piggy_live_orders_total{outcome="filled"})', lambda v: v >= 1)
    assert filled == 1
    p50 = prom.wait_value(
        "histogram_quantile(0.5, sum by (le) (piggy_intent_to_ack_seconds_bucket))",
        lambda v: not math.isnan(v))
    assert 0 < p50 < 30
    print(f"prometheus: filled={filled:g} intent→ack p50={p50:.3f}s")


def test_dashboard_rendered_from_prometheus_shows_the_buy(scenario: Scenario,
                                                          tmp_path: Path) -> None:
    """The dashboard JSON rendered with live values (the README screenshot when
    PIGGY_SAVE_SCREENSHOTS=1 and Debian's chromium is installed)."""
    prom = scenario.prometheus
    if prom is None:
        pytest.skip(f"prometheus binary not found ({PROMETHEUS})")
    import importlib.util
    import os
    import subprocess

    spec = importlib.util.spec_from_file_location("render_dashboard",
                                                  REPO / "scripts" / "render_dashboard.py")
    assert spec is not None and spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    prom.wait_value("sum(piggy_decisions_total)", lambda v: v >= 2)
    page = render.render(prom.url, json.loads((REPO / "deploy" / "grafana" /
                                               "cryptopiggy.json").read_text()))
    assert "Live orders filled (24 h)" in page and "binanceus filled" in page
    assert "PAPER accepted" in page and "test-buy" in page
    out = tmp_path / "dashboard.html"
    out.write_text(page)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return
    shot = tmp_path / "dashboard.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                    "--window-size=1400,1150", f"--screenshot={shot}", out.as_uri()],
                   check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert shot.stat().st_size > 10_000
    if os.environ.get("PIGGY_SAVE_SCREENSHOTS") == "1":
        shutil.copy(shot, REPO / "docs" / "operations-dashboard.png")
