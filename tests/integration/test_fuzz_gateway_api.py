"""Schemathesis against the running gateway's own OpenAPI document.

The real stack runs as processes; a sandbox key is saved through the API first, so its secret
is in the vault. Every operation then gets generated requests (valid and invalid, bounded in
count) with the API token: no answer may be a 5xx, and no answer (body or header) may carry
the saved secret.
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from bench.harness import env_flag
from sandbox.admin import SandboxAdmin
from tests.support.stack import running_stack

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
        assert calls >= len(operations), calls
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
        response = case.call(base_url=base, headers=auth, timeout=15)
        where = f"{case.method} {case.formatted_path} ({mode.value})"
        if response.status_code >= 500:
            problems.append(f"{where} -> {response.status_code}: {response.text[:200]}")
        texts = [response.text, *(f"{k}: {v}" for k, v in response.headers.items())]
        if any(secret in t for t in texts):
            problems.append(f"{where} -> the secret is in the answer")

    with contextlib.suppress(Unsatisfiable):  # nothing invalid to send (no input)
        probe()
    return sent
