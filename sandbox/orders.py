"""Order, fill and account records, and their Binance JSON shapes.

Every amount is a ``Decimal``; on the wire amounts are strings with 8 decimals, as Binance
sends them (``"0.00004000"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Q8 = Decimal("0.00000001")
ZERO = Decimal(0)
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


def fmt(value: Decimal) -> str:
    """Binance's amount string: fixed point, 8 decimals, never an exponent."""
    return f"{value.quantize(Q8):f}"


@dataclass
class Fill:
    trade_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_maker: bool


@dataclass
class Order:
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    orig_quote_qty: Decimal
    account_id: int
    api_key: str
    time: int
    update_time: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    locked: Decimal = ZERO  # funds still reserved for the unfilled remainder (limit orders)
    fills: list[Fill] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # what a dialect echoes back as sent

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def ack(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_order_id, "transactTime": self.time}

    def _amounts(self) -> dict[str, Any]:
        return {"price": fmt(self.price), "origQty": fmt(self.orig_qty),
                "executedQty": fmt(self.executed_qty), "origQuoteOrderQty": fmt(self.orig_quote_qty),
                "cummulativeQuoteQty": fmt(self.cum_quote), "status": self.status,
                "timeInForce": self.time_in_force, "type": self.type, "side": self.side}

    def result(self) -> dict[str, Any]:
        """``newOrderRespType=RESULT`` body (FULL adds ``fills``)."""
        return {**self.ack(), **self._amounts(), "workingTime": self.time,
                "selfTradePreventionMode": "NONE"}

    def full(self) -> dict[str, Any]:
        return {**self.result(), "fills": [
            {"price": fmt(f.price), "qty": fmt(f.qty), "commission": fmt(f.commission),
             "commissionAsset": f.commission_asset, "tradeId": f.trade_id} for f in self.fills]}

    def query(self) -> dict[str, Any]:
        """The shape of ``GET /api/v3/order``, ``openOrders`` and ``allOrders`` items."""
        return {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
                "clientOrderId": self.client_order_id, **self._amounts(),
                "stopPrice": fmt(ZERO), "icebergQty": fmt(ZERO), "time": self.time,
                "updateTime": self.update_time, "isWorking": True, "workingTime": self.time,
                "selfTradePreventionMode": "NONE"}

    def canceled(self, cancel_client_id: str, now: int) -> dict[str, Any]:
        """``DELETE /api/v3/order`` body: ``clientOrderId`` is the cancel request's own id."""
        return {"symbol": self.symbol, "origClientOrderId": self.client_order_id,
                "orderId": self.order_id, "orderListId": -1, "clientOrderId": cancel_client_id,
                "transactTime": now, **self._amounts(), "selfTradePreventionMode": "NONE"}

    def admin(self) -> dict[str, Any]:
        """The admin API's record: the tests' ground truth for what was placed."""
        return {"orderId": self.order_id, "clientOrderId": self.client_order_id,
                "symbol": self.symbol, "side": self.side, "type": self.type,
                "status": self.status, "price": fmt(self.price), "origQty": fmt(self.orig_qty),
                "origQuoteOrderQty": fmt(self.orig_quote_qty),
                "executedQty": fmt(self.executed_qty), "cummulativeQuoteQty": fmt(self.cum_quote),
                "api_key": self.api_key, "account_id": self.account_id, "time": self.time,
                "updateTime": self.update_time}

    def trades(self) -> list[dict[str, Any]]:
        """``myTrades`` items for this order's fills."""
        buyer = self.side == "BUY"
        return [{"symbol": self.symbol, "id": f.trade_id, "orderId": self.order_id,
                 "orderListId": -1, "price": fmt(f.price), "qty": fmt(f.qty),
                 "quoteQty": fmt(f.price * f.qty), "commission": fmt(f.commission),
                 "commissionAsset": f.commission_asset, "time": f.time, "isBuyer": buyer,
                 "isMaker": f.is_maker, "isBestMatch": True} for f in self.fills]


@dataclass
class Account:
    account_id: int
    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)
    update_time: int = 0

    def available(self, asset: str) -> Decimal:
        return self.free.get(asset, ZERO)

    def add(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.available(asset) + amount

    def lock(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.available(asset) - amount
        self.locked[asset] = self.locked.get(asset, ZERO) + amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] = self.locked.get(asset, ZERO) - amount
        self.add(asset, amount)

    def balances(self) -> list[dict[str, str]]:
        assets = sorted(set(self.free) | set(self.locked))
        return [{"asset": a, "free": fmt(self.available(a)),
                 "locked": fmt(self.locked.get(a, ZERO))} for a in assets]
