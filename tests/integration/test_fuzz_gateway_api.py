"""Schemathesis against the running gateway's own OpenAPI document.

The real stack runs as processes; a sandbox key is saved through the API first, so its secret
is in the vault. Every operation then gets generated requests (valid and invalid, bounded in
count) with the operator token and with a user token: no answer may be a 5xx, no connection
may be dropped, and no answer (body or header) may carry the saved secret. Then the hand-made
bad-input list of tests/integration/test_gateway_hardening.py goes over one kept-alive
connection to the real process.
"""
from __future__ import annotations

import contextlib
import http.client
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from bench.harness import env_flag
from sandbox.admin import SandboxAdmin
from tests.support.stack import piggy, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.chaos]  # short in make test, long in make chaos

EXAMPLES = 120 if env_flag("PIGGY_CHAOS_FULL") else 12
BUDGET_S = 300 if env_flag("PIGGY_CHAOS_FULL") else 45


def test_gateway_api_fuzzed_answers_no_5xx_and_never_the_secret(redis_url: str,
                                                                 tmp_path: Path) -> None:
    env = {"PIGGY_REPLY_TIMEOUT_S": "1", "PIGGY_HEARTBEAT_MAX_AGE_S": "5"}
    with running_stack(tmp_path, redis_url, env) as stack:
        token = (stack.home / "api-token").read_text().strip()
        auth = {"Authorization": f"Bearer {token}"}
        key = SandboxAdmin(stack.sandbox_url).create_key(balances={"USDT": "100"})
        saved = httpx.post(stack.api_url + "/api/credentials", headers=auth, timeout=30,
                           json={"userId": "fuzz", "exchange": "binanceus",
                                 "apiKey": key["api_key"], "apiSecret": key["secret"]})
        if saved.status_code == 202:  # validation slower than the reply timeout (a loaded machine)
            saved = _until_validated(stack.api_url, auth, "fuzz")
        assert saved.status_code == 200 and saved.json()["status"] == "validated", saved.text
        secret = key["secret"]

        schema = schemathesis.openapi.from_url(stack.api_url + "/openapi.json")
        operations = [r.ok() for r in schema.get_all_operations()]
        assert len(operations) >= 5, [o.label for o in operations]
        problems: list[str] = []
        deadline = time.monotonic() + BUDGET_S
        calls = 0
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                calls += _fuzz(operation, mode, stack.api_url, auth, secret, problems, deadline)
        created = piggy(stack, "token", "create", "--user", "fuzz")
        assert created.returncode == 0, created.stdout + created.stderr
        user_auth = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
        user_deadline = time.monotonic() + BUDGET_S / 3
        for operation in operations:
            calls += _fuzz(operation, GenerationMode.POSITIVE, stack.api_url, user_auth, secret,
                           problems, user_deadline)
        assert calls >= len(operations), calls
        problems += _bad_inputs(stack.ports.api, token)
        assert problems == [], "\n".join(problems[:20])
        # the service is still there and still holds the key
        assert httpx.get(stack.api_url + "/healthz", timeout=5).status_code == 200


def _fuzz(operation: Any, mode: GenerationMode, base: str, auth: dict[str, str],
          secret: str, problems: list[str], deadline: float) -> int:
    """Bounded generated requests for one operation; returns how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def probe(case: Any) -> None:
        nonlocal sent
        if time.monotonic() > deadline:
            return
        sent += 1
        where = f"{case.method} {case.formatted_path} ({mode.value})"
        try:
            response = case.call(base_url=base, headers=auth, timeout=15)
        except requests.ConnectionError as exc:
            problems.append(f"{where} -> connection dropped ({type(exc).__name__})")
            return
        if response.status_code >= 500 and not _could_not_ask(response):
            problems.append(f"{where} -> {response.status_code}: {response.text[:200]}")
        texts = [response.text, *(f"{k}: {v}" for k, v in response.headers.items())]
        if any(secret in t for t in texts):
            problems.append(f"{where} -> the secret is in the answer")

    with contextlib.suppress(Unsatisfiable):  # nothing invalid to send (no input)
        probe()
    return sent


def _bad_inputs(port: int, token: str) -> list[str]:
    """The hand-made bad requests, one kept-alive connection to the real gateway process."""
    from tests.integration.test_gateway_hardening import BAD_OTHER, BAD_TRADES, KeptConnection

    conn = KeptConnection(port, token)
    problems = []
    # "not served" is about the in-process gateway (binanceus only); this stack serves every
    # exchange at the sandbox, so those two cases are valid requests here.
    cases = [("POST", "/api/trade", body, headers, label) for label, body, headers, _c, _t in BAD_TRADES
             if "not served" not in label]
    cases += [(method, path, body, {}, label) for label, method, path, body, _c in BAD_OTHER
              if "not served" not in label]
    conn.request("GET", "/api/health")
    sock = conn.socket_id  # a new socket after a case = the server dropped the connection
    for method, path, body, headers, label in cases:
        hdrs = ({"Content-Type": "application/json"} if body is not None else {}) | headers
        try:
            status, _h, _data = conn.request(method, path, body, hdrs)
            after, _h, _d = conn.request("GET", "/api/health")
        except (OSError, http.client.HTTPException) as exc:
            problems.append(f"bad input {label}: connection dropped ({type(exc).__name__})")
            conn = KeptConnection(port, token)
            conn.request("GET", "/api/health")
            sock = conn.socket_id
            continue
        if not 400 <= status < 500 or after != 200 or conn.socket_id != sock:
            problems.append(f"bad input {label}: {status}, next request {after}")
    return problems


def _could_not_ask(response: Any) -> bool:
    """The one 5xx the API means to give: keys for an exchange that can't be reached from
    here (only the sandbox is) are a 503 with Retry-After and the reason, as specified."""
    try:
        body = response.json()
    except ValueError:
        return False
    return (response.status_code == 503 and "retry-after" in response.headers
            and isinstance(body, dict)
            and body.get("reasonCode") in ("exchange_unreachable", "rate_limited"))


def _until_validated(api_url: str, auth: dict[str, str], user: str) -> httpx.Response:
    for _ in range(300):
        status = httpx.get(f"{api_url}/api/credentials/{user}", headers=auth, timeout=10)
        if status.json().get("status") != "pending":
            return status
        time.sleep(0.1)
    return status
