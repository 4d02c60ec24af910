"""The outcome key's XREAD reply, as redis-py gives it (RESP2 and RESP3, text or bytes), read
into the trade line; an empty reply or a foreign entry is no line (the trade log decides)."""
from __future__ import annotations

from decimal import Decimal

from shared.events import Mode, TradeLogged
from shared.outcomes import FIELD, first_line, key

LINE = TradeLogged(intent_id="i-1", user_id="ann", symbol="BTC/USDT", side="buy",
                   amount_usd=Decimal(2), mode=Mode.PAPER, status="filled", order_id="paper-i-1")


def test_resp2_and_resp3_replies_give_the_line() -> None:
    body = LINE.model_dump_json()
    resp2 = [[key("i-1"), [("1-0", {FIELD: body})]]]
    resp3 = {key("i-1").encode(): [[(b"1-0", {FIELD.encode(): body.encode()})]]}
    assert first_line(resp2) == LINE
    assert first_line(resp3) == LINE


def test_no_reply_or_a_foreign_entry_is_no_line() -> None:
    assert first_line(None) is None and first_line([]) is None
    assert first_line([[key("i-1"), [("1-0", {"other": "x"})]]]) is None
    assert first_line([[key("i-1"), [("1-0", {FIELD: "{not json"})]]]) is None
