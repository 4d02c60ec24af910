"""The create_order round-trip benchmark runs and reports sane percentiles."""
from __future__ import annotations

import pytest

from bench.sandbox_rtt import measure_create_order_rtt
from sandbox import SandboxAdmin, SandboxThread

pytestmark = pytest.mark.integration


def test_measure_create_order_rtt_reports_percentiles() -> None:
    with SandboxThread(port=0, seed=1) as sb:
        result = measure_create_order_rtt(sb.url, n=30)
        assert len(SandboxAdmin(sb.url).orders()) == 30 + 20  # warm-up included
    assert result["n"] == 30
    assert 0 < result["min_ms"] <= result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
