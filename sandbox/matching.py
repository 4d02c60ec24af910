"""The exchange core: accounts, order placement, fills, cancels and queries. No I/O.

Liquidity is unlimited at the current price: market orders and marketable limit orders fill
completely at the feed's price (taker); resting limit orders fill completely at their limit
price (maker) when the price crosses them. The fee is 0.1 % of the asset received, as on
Binance without BNB discounts; a venue may charge another rate, and in the quote currency
(``fee_in_quote``: a buy then pays cost + fee in quote, as on Kraken and Coinbase). By default
a client order id is never reusable within an account, even after the order is filled or
canceled, so a retried placement cannot create a second order; ``unique_cid=False`` (Kraken's
rule) refuses it only while an order with that id is open.

Order requests reach the engine as Binance-style params (``place``, the binance dialect) or as
an ``OrderRequest`` already validated by a dialect (``place_request``); either way refusals are
``BinanceError`` codes, which the other dialects translate into their own error bodies.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox import errors
from sandbox.auth import ApiKey
from sandbox.market import Fixture, MarketSpec, PriceFeed
from sandbox.orders import Q8, ZERO, Account, Fill, Order
from sandbox.rules import OrderRequest, parse_order

FEE_RATE = Decimal("0.001")


def fee_for(amount: Decimal, rate: Decimal = FEE_RATE) -> Decimal:
    return (amount * rate).quantize(Q8, ROUND_HALF_UP)


class Engine:
    def __init__(self, fixture: Fixture, feed: PriceFeed, clock: Callable[[], int], *,
                 fee_rate: Decimal = FEE_RATE, fee_in_quote: bool = False) -> None:
        self.markets: dict[str, MarketSpec] = fixture.markets
        self.feed = feed
        self.clock = clock
        self.fee_rate = fee_rate
        self.fee_in_quote = fee_in_quote
        self.accounts: dict[int, Account] = {}
        self.orders: dict[int, Order] = {}
        self.by_cid: dict[tuple[int, str], Order] = {}
        self.resting: dict[int, Order] = {}
        self.rejected: list[dict[str, Any]] = []
        self._next_order, self._next_trade = 1000, 5000

    # accounts ---------------------------------------------------------------------------
    def open_account(self, balances: dict[str, Decimal]) -> Account:
        account = Account(len(self.accounts) + 1, update_time=self.clock())
        self.accounts[account.account_id] = account
        self.fund(account.account_id, balances)
        return account

    def fund(self, account_id: int, balances: dict[str, Decimal]) -> None:
        """Set the free balance of each asset given."""
        account = self.accounts[account_id]
        for asset, amount in balances.items():
            account.free[asset] = amount
        account.update_time = self.clock()

    # placement --------------------------------------------------------------------------
    def reject(self, api_key: str, params: Any, code: int | str, msg: str) -> None:
        """Note a refused order request (``GET /admin/rejections``), whoever refused it."""
        self.rejected.append({"time": self.clock(), "api_key": api_key, "params": params,
                              "code": code, "msg": msg})

    def place(self, key: ApiKey, params: dict[str, str]) -> Order:
        try:
            return self._place(key, params)
        except errors.BinanceError as exc:
            self.reject(key.api_key, params, exc.code, exc.msg)
            exc.recorded = True
            raise

    def place_request(self, key: ApiKey, req: OrderRequest, params: dict[str, Any], *,
                      unique_cid: bool = True, record: bool = True) -> Order:
        """Execute an order a dialect has already validated; ``params`` is only recorded
        (``record=False``: the dialect records the refusal in its own words)."""
        try:
            existing = self.by_cid.get((key.account_id, req.client_order_id or ""))
            if existing is not None and (unique_cid or existing.is_open):
                raise errors.duplicate_order()
            return self._execute(key, req)
        except errors.BinanceError as exc:
            if record:
                self.reject(key.api_key, params, exc.code, exc.msg)
                exc.recorded = True
            raise

    def _place(self, key: ApiKey, params: dict[str, str]) -> Order:
        account = self.accounts[key.account_id]
        cid = params.get("newClientOrderId")
        if cid and (account.account_id, cid) in self.by_cid:
            raise errors.duplicate_order()
        prices = {sym: q.price for sym, q in self.feed.quotes.items()}
        return self._execute(key, parse_order(params, self.markets, prices))

    def _execute(self, key: ApiKey, req: OrderRequest) -> Order:
        account = self.accounts[key.account_id]
        spec, price = self.markets[req.symbol], self.feed.price(req.symbol)
        marketable = req.type == "MARKET" or (
            req.price >= price if req.side == "BUY" else req.price <= price)
        if req.type == "LIMIT_MAKER" and marketable:
            raise errors.would_take()
        self._check_funds(account, spec, req, price)
        order = self._new_order(key, req)
        if req.type != "MARKET":
            lock_asset, amount = self._lock_for(spec, req)
            account.lock(lock_asset, amount)
            order.locked = amount
        if marketable:
            self._fill(account, order, spec, price, req.qty, maker=False)
        elif req.time_in_force in ("IOC", "FOK"):
            self._close(account, order, "EXPIRED")
        else:
            self.resting[order.order_id] = order
        return order

    def _lock_for(self, spec: MarketSpec, req: OrderRequest) -> tuple[str, Decimal]:
        if req.side == "BUY":
            cost = (req.price * req.qty).quantize(Q8)
            return spec.quote, cost + (fee_for(cost, self.fee_rate) if self.fee_in_quote else 0)
        return spec.base, req.qty

    def _check_funds(self, account: Account, spec: MarketSpec, req: OrderRequest,
                     price: Decimal) -> None:
        if req.side == "SELL":
            need, asset = req.qty, spec.base
        elif req.type == "MARKET":
            need, asset = (req.quote_qty or req.qty * price), spec.quote
        else:
            need, asset = req.price * req.qty, spec.quote
        if req.side == "BUY" and self.fee_in_quote:
            cost = ((req.price if req.type != "MARKET" else price) * req.qty).quantize(Q8)
            need = cost + fee_for(cost, self.fee_rate)
        if account.available(asset) < need:
            raise errors.insufficient_balance()

    def _new_order(self, key: ApiKey, req: OrderRequest) -> Order:
        now = self.clock()
        cid = req.client_order_id or secrets.token_hex(11)
        order = Order(self._next_order, cid, req.symbol, req.side, req.type, req.time_in_force,
                      req.price, req.qty, req.quote_qty, key.account_id, key.api_key, now, now)
        self._next_order += 1
        self.orders[order.order_id] = order
        self.by_cid[(key.account_id, cid)] = order
        return order

    def _fill(self, account: Account, order: Order, spec: MarketSpec, price: Decimal,
              qty: Decimal, *, maker: bool) -> None:
        cost = (price * qty).quantize(Q8)
        pay_asset, pay = (spec.quote, cost) if order.side == "BUY" else (spec.base, qty)
        get_asset, get = (spec.base, qty) if order.side == "BUY" else (spec.quote, cost)
        if self.fee_in_quote and order.side == "BUY":
            fee_asset, commission = spec.quote, fee_for(cost, self.fee_rate)
            pay += commission
        else:
            fee_asset, commission = get_asset, fee_for(get, self.fee_rate)
            get -= commission
        if order.locked:
            account.locked[pay_asset] -= pay
            order.locked -= pay
        else:
            account.add(pay_asset, -pay)
        account.add(get_asset, get)
        now = self.clock()
        order.fills.append(Fill(self._next_trade, price, qty, commission, fee_asset, now, maker))
        self._next_trade += 1
        order.executed_qty += qty
        order.cum_quote += cost
        self.feed.record_trade(order.symbol, qty, cost)
        self._close(account, order, "FILLED" if order.executed_qty >= order.orig_qty
                    else "PARTIALLY_FILLED")

    def _close(self, account: Account, order: Order, status: str) -> None:
        """Set ``status``; once the order is done, release whatever it still has locked."""
        order.status = status
        order.update_time = account.update_time = self.clock()
        if not order.is_open:
            self.resting.pop(order.order_id, None)
            if order.locked:
                spec = self.markets[order.symbol]
                account.unlock(spec.quote if order.side == "BUY" else spec.base, order.locked)
                order.locked = ZERO

    def on_price(self, symbol: str) -> None:
        """Fill resting limit orders of ``symbol`` that the current price crosses."""
        price = self.feed.price(symbol)
        for order in [o for o in self.resting.values() if o.symbol == symbol]:
            if (order.side == "BUY" and price <= order.price) or (
                    order.side == "SELL" and price >= order.price):
                self._fill(self.accounts[order.account_id], order, self.markets[symbol],
                           order.price, order.orig_qty - order.executed_qty, maker=True)

    # queries and cancels ----------------------------------------------------------------
    def find(self, account_id: int, params: dict[str, str], missing: errors.BinanceError) -> Order:
        """The order named by ``orderId`` or ``origClientOrderId`` (with ``symbol``)."""
        if not params.get("symbol"):
            raise errors.mandatory("symbol")
        if params["symbol"] not in self.markets:
            raise errors.invalid_symbol()
        order: Order | None = None
        if params.get("orderId"):
            if not params["orderId"].isdigit():
                raise errors.illegal_chars("orderId")
            order = self.orders.get(int(params["orderId"]))
        elif params.get("origClientOrderId"):
            order = self.by_cid.get((account_id, params["origClientOrderId"]))
        else:
            raise errors.BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must "
                                                  "be sent, but both were empty/null!")
        if order is None or order.account_id != account_id or order.symbol != params["symbol"]:
            raise missing
        return order

    def cancel(self, account_id: int, params: dict[str, str]) -> dict[str, Any]:
        order = self.find(account_id, params, errors.unknown_order())
        if not order.is_open:
            raise errors.unknown_order()
        self._close(self.accounts[account_id], order, "CANCELED")
        cancel_id = params.get("newClientOrderId") or secrets.token_hex(11)
        return order.canceled(cancel_id, self.clock())

    def cancel_all(self, account_id: int, symbol: str) -> list[dict[str, Any]]:
        open_ = self.open_orders(account_id, symbol)
        if not open_:
            raise errors.unknown_order()
        return [self.cancel(account_id, {"symbol": symbol, "orderId": str(o.order_id)})
                for o in open_]

    def open_orders(self, account_id: int, symbol: str | None) -> list[Order]:
        return [o for o in self.resting.values()
                if o.account_id == account_id and (symbol is None or o.symbol == symbol)]

    def account_orders(self, account_id: int, symbol: str) -> list[Order]:
        return [o for o in self.orders.values()
                if o.account_id == account_id and o.symbol == symbol]
