"""Balance valuation: ccxt balance dict + USD prices → BalanceReport (Decimal as strings)."""
from __future__ import annotations

from decimal import Decimal

import pytest

from services.gateway.balances import value_balances

pytestmark = pytest.mark.unit


def test_assets_are_valued_where_a_price_exists() -> None:
    balance = {"free": {"BTC": 0.5, "USDT": 100.25, "XYZ": 3.0, "ETH": 0.0},
               "used": {"BTC": 0.1, "USDT": 0.0, "XYZ": 0.0, "ETH": 0.0},
               "total": {"BTC": 0.6, "USDT": 100.25, "XYZ": 3.0, "ETH": 0.0}}
    report = value_balances("u1", "binanceus", balance, {"BTC": Decimal(50000)})
    body = report.model_dump(mode="json")
    assert body["balances"]["BTC"] == {"free": "0.5", "used": "0.1", "total": "0.6",
                                       "usd": "30000.00"}
    assert body["balances"]["USDT"]["usd"] == "100.25"
    assert body["balances"]["XYZ"]["usd"] is None
    assert "ETH" not in body["balances"]  # empty balances are left out
    assert body["total_usd"] == "30100.25"
    assert report.ok
