"""The admit script's reply and a stored refusal, parsed (pure)."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from shared import orderflow
from shared.cids import admission, parse
from shared.events import OrderRequested, RejectCategory, Side

pytestmark = pytest.mark.unit


def test_halted_claims_nothing() -> None:
    got = admission([b"halted"], "mine")
    assert got.halted and got.seen is None and got.mine == ""


def test_claimed_carries_the_price_and_this_calls_value() -> None:
    got = admission(["claimed", "65000.5"], "mine")
    assert (got.halted, got.price, got.seen, got.mine) == (False, "65000.5", None, "mine")


def test_seen_marker_with_its_owners_heartbeat() -> None:
    raw = json.dumps({"state": "placing", "by": "gw-a", "ts": 10.0, "order_id": ""})
    got = admission(["seen", "", raw, "12.5"], "mine")
    assert got.mine == "" and got.price == ""
    assert got.seen is not None
    assert (got.seen.state, got.seen.by, got.seen.owner_beat) == ("placing", "gw-a", 12.5)
    assert admission(["seen", "", raw, ""], "m").seen.owner_beat is None  # type: ignore[union-attr]


def test_unreadable_marker_is_unknown() -> None:
    for raw in ("not json", "[1, 2]", "null"):
        assert parse(raw).state == "unknown" and parse(raw).refused is None


def test_a_stored_refusal_is_answered_as_first_published() -> None:
    req = OrderRequested(intent_id="i-1", client_order_id="c-1", user_id="u", exchange="binanceus",
                         symbol="BTCUSD", side=Side.BUY, amount_usd=Decimal(2), live=True,
                         requested_by="test")
    first = orderflow.rejected(req, RejectCategory.INVALID_ORDER, "below the minimum", "pre_trade",
                               {"symbol": "BTC/USD", "id": "BTCUSD"})
    marker = parse(json.dumps({"state": "rejected", "by": "gw", "ts": 1.0, "order_id": "",
                               "refused": orderflow._refusal(first)}))
    assert marker.refused is not None
    again = orderflow._again(req, marker.refused)
    assert again.model_dump(exclude={"event_id", "ts"}) == first.model_dump(
        exclude={"event_id", "ts"})


def test_an_unknown_stored_category_is_unknown() -> None:
    req = OrderRequested(intent_id="i-1", client_order_id="c-1", user_id="u", exchange="binanceus",
                         symbol="BTCUSD", side=Side.BUY, amount_usd=Decimal(2), live=True,
                         requested_by="test")
    assert orderflow._again(req, {"category": "nope"}).category is RejectCategory.UNKNOWN
