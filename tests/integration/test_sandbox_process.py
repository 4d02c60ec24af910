"""The sandbox as operators start it: ``python -m sandbox``, and its admin API over HTTP."""
from __future__ import annotations

import subprocess
import sys

import ccxt
import httpx
import pytest

from sandbox import SandboxAdmin, SandboxProcess
from sandbox.testing import binance, binanceus, coinbase, kraken

pytestmark = pytest.mark.integration


def test_cli_process_serves_ccxt_and_the_admin_api() -> None:
    with SandboxProcess(port=0, seed=5) as sb:
        assert sb.url.startswith("http://127.0.0.1:")
        admin = SandboxAdmin(sb.url)
        key = admin.create_key(balances={"USDT": "10"}, api_key="operatorkey", secret="s3")
        assert key["api_key"] == "operatorkey"
        ex = binanceus(sb.url, key, sync=True)
        assert ex.fetch_time() > 0
        assert ex.fetch_balance()["total"]["USDT"] == 10.0
        admin.set_price("BTCUSDT", "50000")
        ex.create_market_buy_order_with_cost("BTC/USDT", 2)
        assert admin.get_key("operatorkey")["balances"][-1] == {
            "asset": "USDT", "free": "8.00000000", "locked": "0.00000000"}
        admin.reset(seed=9)
        assert admin.orders() == []
        with pytest.raises(ccxt.AuthenticationError):
            binanceus(sb.url, key, sync=True).fetch_balance()
    assert sb.proc is not None and sb.proc.poll() is not None


def test_one_process_serves_every_venue_under_its_prefix() -> None:
    """What ``piggy up`` starts: each venue has its own keys, markets and orders."""
    with SandboxProcess(port=0, seed=5) as sb:
        cases = [("binance", binance, "BTCUSDT", "BTC/USDT", {"USDT": "20"}, 6),
                 ("kraken", kraken, "XXBTZUSD", "BTC/USD", {"USD": "20"}, 6),
                 ("coinbase", coinbase, "BTC-USD", "BTC/USD", {"USD": "20"}, 2)]
        for venue, make, market_id, symbol, funds, cost in cases:
            admin = SandboxAdmin(sb.url, venue=venue)
            admin.set_price(market_id, "50000")
            ex = make(sb.url, admin.create_key(balances=funds), sync=True)
            ex.create_market_buy_order_with_cost(symbol, cost, {"client_order_id": f"p-{venue}"}
                                                 if venue == "coinbase" else {})
            assert [o["symbol"] for o in admin.orders()] == [market_id], venue
        assert SandboxAdmin(sb.url).orders() == []
        assert httpx.get(sb.venue_url("kraken") + "/0/public/Time", trust_env=False).json()[
            "error"] == []


def test_cli_refuses_non_loopback_hosts() -> None:
    result = subprocess.run([sys.executable, "-m", "sandbox", "--port", "0", "--host", "0.0.0.0"],
                            check=False, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "--host" in result.stderr


def test_admin_api_refuses_bad_input() -> None:
    with SandboxProcess(port=0) as sb, httpx.Client(base_url=sb.url, trust_env=False) as client:
        assert client.post("/admin/faults", json={"kind": "meteor"}).status_code == 400
        assert client.post("/admin/price", json={"symbol": "NOPE", "price": "1"}
                           ).status_code == 400
        assert client.post("/admin/keys", json={"balances": {"USDT": "-1"}}
                           ).status_code == 400
        assert client.patch("/admin/keys/missing", json={}).status_code == 404
        fault = client.post("/admin/faults", json={"kind": "drop", "count": 1}).json()
        assert client.get("/admin/faults").json()[0]["id"] == fault["id"]
        assert client.delete(f"/admin/faults/{fault['id']}").status_code == 200
        assert client.get("/admin/faults").json() == []
