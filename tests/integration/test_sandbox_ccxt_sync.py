"""Sync ccxt ``binanceus`` against a sandbox running in a background thread."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ccxt
import pytest

from sandbox import SandboxAdmin, SandboxThread
from sandbox.testing import binanceus

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox() -> Iterator[SandboxThread]:
    with SandboxThread(port=0, seed=2) as sb:
        yield sb


@pytest.fixture
def admin(sandbox: SandboxThread) -> SandboxAdmin:
    return SandboxAdmin(sandbox.url)


@pytest.fixture
def key(admin: SandboxAdmin) -> dict[str, Any]:
    admin.set_price("BTCUSDT", "50000")
    return admin.create_key(balances={"USDT": "100"})


def test_sync_load_markets_balance_and_two_dollar_buy(
        sandbox: SandboxThread, admin: SandboxAdmin, key: dict[str, Any]) -> None:
    ex = binanceus(sandbox.url, key, sync=True)
    assert ex.load_markets()["BTC/USDT"]["limits"]["cost"]["min"] == 1.0
    assert ex.fetch_balance()["total"]["USDT"] == 100.0
    order = ex.create_market_buy_order_with_cost("BTC/USDT", 2)
    assert order["id"] and order["status"] == "closed" and order["cost"] == 2.0
    balance = ex.fetch_balance()
    assert balance["total"]["USDT"] == pytest.approx(98.0)
    assert balance["total"]["BTC"] == pytest.approx(2 / 50000 * 0.999)
    assert len(admin.orders()) == 1


def test_sync_auth_errors(sandbox: SandboxThread, key: dict[str, Any]) -> None:
    for bad in ({**key, "secret": "wrong"}, {"api_key": "nosuchkey", "secret": "x"}):
        with pytest.raises(ccxt.AuthenticationError):
            binanceus(sandbox.url, bad, sync=True).fetch_balance()


def test_sync_duplicate_client_order_id_and_notional(
        sandbox: SandboxThread, admin: SandboxAdmin, key: dict[str, Any]) -> None:
    ex = binanceus(sandbox.url, key, sync=True)
    ex.create_order("BTC/USDT", "market", "buy", None, None,
                    {"quoteOrderQty": 2, "clientOrderId": "dup"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        ex.create_order("BTC/USDT", "market", "buy", None, None,
                        {"quoteOrderQty": 2, "clientOrderId": "dup"})
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        ex.create_market_buy_order_with_cost("BTC/USDT", 0.99)
    assert [o["clientOrderId"] for o in admin.orders()] == ["dup"]
    assert ex.fetch_order(None, "BTC/USDT", {"clientOrderId": "dup"})["status"] == "closed"


def test_sync_limit_order_cancel(sandbox: SandboxThread, key: dict[str, Any]) -> None:
    ex = binanceus(sandbox.url, key, sync=True)
    order = ex.create_order("BTC/USDT", "limit", "buy", 0.001, 40000)
    assert ex.cancel_order(order["id"], "BTC/USDT")["status"] == "canceled"
    assert ex.fetch_open_orders("BTC/USDT") == []


def test_sync_no_trade_permission_and_stale_timestamp(
        sandbox: SandboxThread, admin: SandboxAdmin) -> None:
    key = admin.create_key(can_trade=False, balances={"USDT": "10"})
    with pytest.raises(ccxt.AuthenticationError):
        binanceus(sandbox.url, key, sync=True).create_market_buy_order_with_cost("BTC/USDT", 2)
    late = binanceus(sandbox.url, key, sync=True, options={"timeDifference": 20_000})
    with pytest.raises(ccxt.InvalidNonce):
        late.fetch_balance()
