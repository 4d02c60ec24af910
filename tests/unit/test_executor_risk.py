from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.executor.risk import from_micros, spend_key, to_micros

pytestmark = pytest.mark.unit


def test_micros_round_trip_keeps_cents_exact() -> None:
    assert to_micros(Decimal("2.01")) == 2_010_000
    assert from_micros(to_micros(Decimal("49.99"))) == Decimal("49.99")


def test_spend_key_is_per_user_per_utc_day() -> None:
    day = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    assert spend_key("alice", day) == "piggy:spend:alice:20261125"
