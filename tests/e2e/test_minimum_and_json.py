"""As processes, over HTTP, through unmodified ccxt: ``piggy test-buy --accept-minimum`` at
several prices on kraken and binance places exactly one order that spends no more than the
offer; every ``--json`` branch (success, refusal, error) prints one JSON document on stdout; an
unknown symbol is refused with the API's close matches and nothing is sent; refusals before
sending are counted apart from the exchange's errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from piggy.stack import Stack, sandbox_urls
from sandbox.admin import SandboxAdmin
from tests.support.observability import scrape
from tests.support.stack import piggy, running_stack

pytestmark = pytest.mark.e2e

LIVE_ENV = {"ALLOW_LIVE": "1", "PIGGY_HEARTBEAT_MAX_AGE_S": "10", "PIGGY_TICKER_INTERVAL_S": "0.5"}
VENUES = {"kraken": ("XXBTZUSD", "BTC/USD", "USD"), "binance": ("BTCUSDT", "BTC/USDT", "USDT")}
PRICES = ("23456.7", "50000", "87654.3")


def _api(stack: Stack) -> httpx.Client:
    token = (stack.home / "api-token").read_text().strip()
    return httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {token}"},
                        timeout=30)


def _json(run: Any) -> Any:
    """stdout is exactly one JSON document (whatever else went to stderr)."""
    try:
        return json.loads(run.stdout)
    except ValueError:
        pytest.fail(f"stdout is not JSON (exit {run.returncode}):\n{run.stdout}\n--\n{run.stderr}")


def _live_user(api: httpx.Client, admin: SandboxAdmin, user: str, exchange: str,
               quote: str) -> None:
    key = admin.create_key(balances={quote: "100000"})
    saved = api.post("/api/credentials", json={"userId": user, "exchange": exchange,
                                               "apiKey": key["api_key"],
                                               "apiSecret": key["secret"]}).json()
    assert saved["status"] == "validated", saved
    armed = api.post("/api/live/arm", json={"userId": user, "exchange": exchange}).json()
    assert armed["armed"], armed


def _priced(api: httpx.Client, exchange: str, symbol: str, price: Decimal) -> dict[str, Any]:
    """The offer once the gateway quotes the pinned price (its ticker loop catches up)."""
    deadline = time.monotonic() + 20
    while True:
        offer = api.get("/api/minimum", params={"exchange": exchange, "symbol": symbol,
                                                "amountUsd": "2"}).json()
        if Decimal(offer["price"]) == price or time.monotonic() > deadline:
            return offer
        time.sleep(0.2)


def test_accept_minimum_at_several_prices_and_json_on_every_branch(redis_url: str,
                                                                     tmp_path: Path) -> None:
    with running_stack(tmp_path, redis_url, LIVE_ENV) as stack, _api(stack) as api:
        urls = sandbox_urls(stack.sandbox_url)
        for exchange, (symbol_id, symbol, quote) in VENUES.items():
            admin = SandboxAdmin(urls[f"PIGGY_{exchange.upper()}_URL"])
            user = f"min-{exchange}"
            _live_user(api, admin, user, exchange, quote)
            for raw in PRICES:
                price = Decimal(admin.set_price(symbol_id, raw)["price"])
                offer = _priced(api, exchange, symbol, price)
                assert Decimal(offer["price"]) == price and not offer["enough"], offer
                before = len(admin.orders())
                run = piggy(stack, "test-buy", "--usd", "2", "--exchange", exchange, "--user",
                            user, "--accept-minimum", "--live", "--json")
                answer = _json(run)
                assert run.returncode == 0 and answer["mode"] == "LIVE", answer
                assert answer["minimum"]["minimumUsd"] == offer["minimumUsd"]
                orders = admin.orders()
                assert len(orders) == before + 1, orders  # exactly one order
                order = orders[-1]
                assert order["status"] == "FILLED" and order["clientOrderId"] == \
                    answer["clientOrderId"]
                fee = Decimal(answer["fee"]) if answer["feeCurrency"] == quote else Decimal(0)
                spent = Decimal(order["cummulativeQuoteQty"]) + fee
                assert Decimal(0) < spent <= Decimal(offer["spendsAtMostUsd"]), (price, offer,
                                                                                answer)
            assert admin.rejections() == []

        kraken = SandboxAdmin(urls["PIGGY_KRAKEN_URL"])
        sent_before = len(kraken.orders())
        # refusal: below the minimum without --accept-minimum, nothing sent
        below = piggy(stack, "test-buy", "--usd", "2", "--exchange", "kraken", "--user",
                      "min-kraken", "--json")
        refused = _json(below)
        assert below.returncode == 3 and refused["refused"] == "below_minimum", refused
        assert refused["minimum"]["minimumUsd"] and "is below" in below.stderr + refused["error"]
        # an unknown symbol: reported as unknown with the API's close matches, nothing sent
        unknown = piggy(stack, "test-buy", "--symbol", "BTC/USDX", "--exchange", "kraken",
                        "--user", "min-kraken", "--json")
        said = _json(unknown)
        assert unknown.returncode == 3 and said["refused"] == "unknown_symbol", said
        assert "BTC/USD" in said["closeMatches"] and "could not ask" not in unknown.stderr
        plain = piggy(stack, "test-buy", "--symbol", "FOO/USDT", "--user", "nobody")
        assert plain.returncode == 3 and "unknown symbol 'FOO/USDT'" in plain.stderr
        assert len(kraken.orders()) == sent_before
        # success (a paper fill), the trade log, the live switch: one JSON document each
        paper = piggy(stack, "test-buy", "--usd", "3", "--user", "paper-user", "--json")
        assert paper.returncode == 0 and _json(paper)["outcome"]["mode"] == "PAPER"
        assert isinstance(_json(piggy(stack, "trades", "--json")), list)
        status = piggy(stack, "live", "status", "--user", "min-kraken", "--exchange", "kraken",
                       "--json")
        assert _json(status)["armed"] and _json(status)["exchange"] == "kraken"
        other = piggy(stack, "live", "status", "--user", "min-kraken", "--exchange", "binance",
                      "--json")
        assert not _json(other)["armed"]  # armed on kraken only
        no_keys = piggy(stack, "live", "arm", "--user", "paper-user", "--json")
        assert no_keys.returncode == 3 and _json(no_keys)["ok"] is False
        disarm = piggy(stack, "live", "disarm", "--user", "min-kraken", "--exchange", "kraken",
                       "--json")
        assert disarm.returncode == 0 and _json(disarm)["armed"] is False
        # an error (the API unreachable): still one JSON document, exit 1
        down = subprocess.run([sys.executable, "-m", "piggy.cli", "live", "status", "--user",
                               "min-kraken", "--json"], capture_output=True, text=True,
                              env=dict(os.environ) | stack.env() | {"PIGGY_API_PORT": "1"},
                              timeout=60, stdin=subprocess.DEVNULL, check=False)
        assert down.returncode == 1 and _json(down)["ok"] is False

        # $2 on kraken through the API: refused before sending, counted as a refusal only
        api.post("/api/trade", json={"userId": "min-binance", "exchange": "binance",
                                     "symbolCcxt": "BTC/USDT", "amountUsd": "2"})
        gateway = scrape(stack.metrics_urls["gateway"])
        assert gateway.value("piggy_order_refusals_total", reason="pre_trade") >= 1
        assert gateway.value("piggy_exchange_errors_total", exchange="binance") == 0
