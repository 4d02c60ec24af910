"""The whole live flow on every exchange, as processes over HTTP through unmodified ccxt:
save keys → validate (right key, wrong secret, unknown key, no trade permission) → arm →
$2 test buy (or the exchange's smallest accepted amount) → exactly one order at the sandbox
with the client order id → balance → trade log LIVE with the real cost → emergency stop → no
order. One sandbox process serves every exchange, each under its own path (its own dialect).
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from piggy.stack import Stack, sandbox_urls
from sandbox.admin import SandboxAdmin
from shared.exchanges import EXCHANGES, TEST_SYMBOLS
from tests.support.stack import piggy, running_stack

pytestmark = pytest.mark.e2e

LIVE_ENV = {"ALLOW_LIVE": "1", "PIGGY_HEARTBEAT_MAX_AGE_S": "5", "PIGGY_CLAIM_IDLE_MS": "1000"}
FUNDS = "1000"


def _api(stack: Stack) -> httpx.Client:
    token = (stack.home / "api-token").read_text().strip()
    return httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"},
                        timeout=30)


def _submit(api: httpx.Client, user: str, exchange: str, key: str, secret: str) -> dict:
    answer = api.post("/api/credentials", json={"userId": user, "exchange": exchange,
                                                "apiKey": key, "apiSecret": secret})
    assert answer.status_code < 500, answer.text
    return answer.json()


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_keys_to_live_test_buy_to_emergency_stop(exchange: str, redis_url: str,
                                                 tmp_path: Path) -> None:
    symbol = TEST_SYMBOLS[exchange]
    quote = symbol.split("/")[1]
    with running_stack(tmp_path, redis_url, LIVE_ENV) as stack, _api(stack) as api:
        admin = SandboxAdmin(sandbox_urls(stack.sandbox_url)[f"PIGGY_{exchange.upper()}_URL"])
        good = admin.create_key(balances={quote: FUNDS})
        other = admin.create_key(balances={quote: FUNDS})
        gone = admin.create_key()
        admin.delete_key(gone["api_key"])
        no_trade = admin.create_key(balances={quote: FUNDS}, can_trade=False)

        # validation: each failure with its own reason, said by the exchange's own error body
        wrong = _submit(api, "wrong", exchange, good["api_key"], other["secret"])
        assert (wrong["status"], wrong["reasonCode"]) == ("rejected", "wrong_secret"), wrong
        unknown = _submit(api, "unknown", exchange, gone["api_key"], gone["secret"])
        assert (unknown["status"], unknown["reasonCode"]) == ("rejected", "unknown_key"), unknown
        denied = _submit(api, "denied", exchange, no_trade["api_key"], no_trade["secret"])
        assert (denied["status"], denied["reasonCode"]) == ("rejected",
                                                            "no_trading_permission"), denied
        user = f"flow-{exchange}"
        saved = _submit(api, user, exchange, good["api_key"], good["secret"])
        assert saved["ok"] and saved["status"] == "validated", saved
        for body in (wrong, unknown, denied, saved):
            assert good["secret"] not in str(body) and other["secret"] not in str(body)

        armed = api.post("/api/live/arm", json={"userId": user, "exchange": exchange}).json()
        assert armed["ok"] and armed["armed"], armed

        # the test buy: $2, or the smallest amount the exchange accepts (asked before sending)
        minimum = api.get("/api/minimum", params={"exchange": exchange, "symbol": symbol,
                                                  "amountUsd": "2"}).json()
        amount = "2" if minimum["enough"] else minimum["minimumUsd"]
        if exchange in ("binance", "kraken"):  # $5 min notional / 0.0001 BTC ordermin
            assert not minimum["enough"] and "is below it" in minimum["reason"], minimum
        assert admin.orders() == []  # asking sent nothing
        if not minimum["enough"]:  # the CLI shows the minimum and sends nothing without a yes
            cli = piggy(stack, "test-buy", "--usd", "2", "--exchange", exchange, "--user", user)
            assert cli.returncode == 3, cli.stdout + cli.stderr  # refused by a rule
            assert "is below it" in cli.stdout and "the smallest amount" in cli.stdout  # price moves
            assert admin.orders() == []
        bought = api.post("/api/trade", json={"userId": user, "exchange": exchange,
                                              "symbolCcxt": symbol, "amountUsd": amount}).json()
        assert (bought["mode"], bought["status"]) == ("LIVE", "filled"), bought
        orders = admin.orders()
        assert len(orders) == 1, orders
        order = orders[0]
        assert order["clientOrderId"] == bought["clientOrderId"]
        spent = Decimal(order["cummulativeQuoteQty"])
        assert abs(Decimal(bought["cost"]) - spent) <= Decimal("1e-8")  # what the exchange spent
        assert Decimal(bought["filled"]) == Decimal(order["executedQty"])
        fee = Decimal(bought["fee"]) if bought["feeCurrency"] == quote else Decimal(0)
        # kraken (viqc) and coinbase take the fee out of the quote amount, binance in BTC
        if minimum["enough"]:
            assert spent + fee >= Decimal(amount) - Decimal("0.01")  # never silently below the ask
            assert spent + fee <= Decimal(amount) * Decimal("1.05")
        else:  # the offered minimum spends at most what it says (docs/exchanges.md)
            assert spent + fee <= Decimal(minimum["spendsAtMostUsd"]) == Decimal(amount)
        assert bought["summary"].startswith(f"asked ${Decimal(amount):.2f}, filled ")

        balance = api.get(f"/api/balance/{user}", params={"exchange": exchange}).json()
        assert balance["ok"], balance
        left = Decimal(str(balance["balances"][quote]["total"]))
        assert left < Decimal(FUNDS)
        assert "BTC" in balance["balances"] or "XBT" in balance["balances"], balance

        [line] = api.get("/api/trades", params={"userId": user}).json()
        assert (line["mode"], line["status"], line["exchange"]) == ("LIVE", "filled", exchange)
        assert abs(Decimal(line["cost"]) - spent) <= Decimal("1e-8") and line["client_order_id"] == order["clientOrderId"]

        assert api.post("/api/kill", json={"reason": "flow test"}).json()["ok"]
        stopped = api.post("/api/trade", json={"userId": user, "exchange": exchange,
                                               "symbolCcxt": symbol, "amountUsd": amount}).json()
        assert stopped["mode"] != "LIVE" or stopped["status"] == "rejected", stopped
        assert len(admin.orders()) == 1
