"""The dashboard driven by Streamlit's own harness (AppTest) against the real stack.

The page talks to the real gateway over HTTP; the stack runs with ALLOW_LIVE=1 and the
sandbox exchange, so arming and the $2 test buy place one real signed order in the sandbox.
It asks for a token (none pre-filled); a user token sees and acts for its own user only.
"""
from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("streamlit", reason="the dashboard needs streamlit (pip install -e .)")

from streamlit.testing.v1 import AppTest

from sandbox import SandboxAdmin
from tests.support.redis_server import free_port
from tests.support.stack import piggy, running_stack

pytestmark = pytest.mark.e2e

APP = str(Path(__file__).resolve().parents[2] / "services" / "dashboard" / "app.py")
USER = "dash-apptest"


def _texts(at: AppTest) -> list[str]:
    """Every text the page shows (messages, markdown, captions, tables, inputs' values)."""
    out: list[str] = []
    for kind in ("error", "warning", "success", "info", "markdown", "caption", "title",
                 "subheader", "metric"):
        out += [str(e.value) for e in getattr(at, kind)]
    for kind in ("table", "dataframe"):
        out += [e.value.to_string() for e in getattr(at, kind)]
    out += [str(w.value) for w in at.text_input]
    return out


def _shown(at: AppTest, needle: str) -> bool:
    return any(needle in t for t in _texts(at))


def _trade_log(at: AppTest) -> pd.DataFrame:
    return next(t.value for t in at.table if "Order id" in t.value.columns)


def _position(at: AppTest, timeout: float = 30) -> pd.DataFrame:
    """The positions table, once the books have journaled the order (reruns until then)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [t.value for t in at.table if "Cost with fees" in t.value.columns]
        if found:
            return found[0].reset_index()
        assert time.monotonic() < deadline, _texts(at)
        time.sleep(0.5)
        _run(at)


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_settings_validate_arm_test_buy_and_trade_log_through_the_real_api(
        redis_url: str, tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, env={"ALLOW_LIVE": "1"}) as stack:
        admin = SandboxAdmin(stack.sandbox_url)
        key = admin.create_key(balances={"USDT": "100"})
        token = (stack.home / "api-token").read_text().strip()

        at = _run(AppTest.from_file(APP, default_timeout=30))
        assert at.session_state["user_id"], "a user id is generated when empty"
        # nothing pre-filled: the page asks for a token and shows nothing else
        assert at.session_state["api_token"] == "" and not _shown(at, token)
        assert _shown(at, "Enter an API token") and not _shown(at, "Trade log")

        # unreachable API, then a wrong token: clear messages, no crash
        at.text_input(key="api_url").input(f"http://127.0.0.1:{free_port()}")
        at.text_input(key="token_entry").input("wrong-token")
        at.button(key="sign_in").click()
        _run(at)
        assert _shown(at, "cannot reach the API")
        at.text_input(key="api_url").input(stack.api_url)
        at.text_input(key="api_token").input("wrong-token")
        _run(at)
        assert _shown(at, "refused the token (401)")

        # settings, then save the keys: validated, and the secret is gone from the session
        at.text_input(key="api_token").input(token)
        at.text_input(key="user_id").input(USER)
        at.selectbox(key="exchange").select("binanceus")
        at.text_input(key="api_key").input(key["api_key"])
        at.text_input(key="api_secret").input(key["secret"])
        at.button(key="save_keys").click()
        _run(at)
        assert at.session_state["api_secret"] == "" and at.session_state["api_key"] == ""
        assert _shown(at, "Keys validated"), _texts(at)
        assert not any(key["secret"] in t for t in _texts(at))

        # validate & sync: status and balances with USD values
        at.button(key="validate_sync").click()
        _run(at)
        assert _shown(at, "Balance synced") and _shown(at, "$100.00"), _texts(at)

        # the toggle asks for confirmation; arming shows every gate and the red LIVE banner
        assert not _shown(at, "LIVE TRADING ARMED")
        at.toggle(key="live_toggle").set_value(True)
        _run(at)
        assert at.button(key="confirm_arm").disabled
        at.checkbox(key="confirm_ack").check()
        _run(at)
        at.button(key="confirm_arm").click()
        _run(at)
        assert _shown(at, "LIVE TRADING ARMED"), _texts(at)
        gates = at.table[0].value.to_string()
        for label in ("ALLOW_LIVE=1", "API keys validated", "Gateway heartbeat", "Emergency stop off"):
            assert label in gates
        assert "closed" not in gates, gates

        # $2 test buy: a LIVE order id, in the trade log, and exactly one sandbox order
        assert at.number_input(key="test_amount").value == 2.0
        at.button(key="test_buy").click()
        _run(at)
        orders = admin.orders()
        assert len(orders) == 1, orders
        order_id = str(orders[0]["orderId"])
        assert _shown(at, f"LIVE filled: order id {order_id}"), _texts(at)
        log = _trade_log(at)
        live_rows = log[log["Mode"] == "LIVE"]
        assert list(live_rows["Order id"]) == [order_id], log.to_string()

        # the position it made, from the books: what is held, its cost with fees, its value
        position = _position(at)
        assert list(position["Mode"]) == ["LIVE"] and list(position["Asset"]) == ["BTC"]
        line = live_rows.iloc[0]
        fee, fee_currency = line["Fee"].split()
        assert fee_currency == "BTC"  # binance charges a buy's fee in what it receives
        held = Decimal(line["Filled"]) - Decimal(fee)
        assert Decimal(position.iloc[0]["Quantity"]) == held, position.to_string()
        assert position.iloc[0]["Cost with fees"] == f"{line['Cost']} USDT"
        assert position.iloc[0]["Method"] == "FIFO"
        assert at.get("vega_lite_chart"), "the holdings value chart"

        # emergency stop, one click: the next test buy sends nothing to the exchange
        at.button(key="emergency_stop").click()
        _run(at)
        assert _shown(at, "EMERGENCY STOP ENGAGED")
        at.button(key="test_buy").click()
        _run(at)
        assert len(admin.orders()) == 1
        log = _trade_log(at)
        assert log.iloc[0]["Mode"] != "LIVE" and "emergency stop" in log.iloc[0]["Reasons"]

        # another browser session with USER's own token, opened at another user's URL: it
        # sees USER only, can't pick another user, and has no operator-only control
        created = piggy(stack, "token", "create", "--user", USER)
        assert created.returncode == 0, created.stderr
        user_token = created.stdout.strip().splitlines()[-1]
        own = AppTest.from_file(APP, default_timeout=30)
        own.query_params["user"] = "someone-else"
        _run(own)
        own.text_input(key="api_url").input(stack.api_url)
        own.text_input(key="token_entry").input(user_token)
        own.button(key="sign_in").click()
        _run(own)
        assert own.session_state["user_id"] == USER and own.text_input(key="user_id").disabled
        assert _shown(own, f"signed in as user {USER}"), _texts(own)
        assert list(_trade_log(own)["Mode"]).count("LIVE") == 1
        keys = {b.key for b in own.button}
        assert "emergency_stop" not in keys and "resume" not in keys, keys
        own.button(key="sign_out").click()
        _run(own)
        assert own.session_state["api_token"] == "" and _shown(own, "Enter an API token")

    # the secret is in no file the stack wrote (vault ciphertext, logs, token file)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key["secret"].encode() not in path.read_bytes(), path
