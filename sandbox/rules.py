"""Pure order validation: request params + market rules + current price -> ``OrderRequest``.

Checks run in Binance's spirit and with its codes: mandatory/unexpected params (-1102/-1106),
syntax (-1100), precision beyond the asset's (-1111), then the symbol filters
(-1013 PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, NOTIONAL). Balance and duplicate checks need
state and live in ``matching``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sandbox import errors
from sandbox.market import MarketSpec

DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
ORDER_TYPES = frozenset({"LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT",
                         "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK"})
RESP_TYPES = frozenset({"ACK", "RESULT", "FULL"})


@dataclass(frozen=True)
class OrderRequest:
    """A syntactically valid order that passed every filter at the given price."""

    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal  # base quantity (for quoteOrderQty market orders: the quantity to execute)
    price: Decimal  # limit price, or 0 for market orders
    quote_qty: Decimal  # quoteOrderQty, or 0
    client_order_id: str | None
    resp_type: str


def decimal_param(params: dict[str, str], name: str, places: int) -> Decimal:
    raw = params[name]
    if not DECIMAL_RE.match(raw):
        raise errors.illegal_chars(name)
    value = Decimal(raw)
    if decimals(value) > places:
        raise errors.too_precise()
    return value


def decimals(value: Decimal) -> int:
    """Significant decimal places: ``decimals(Decimal("0.00004000")) == 5``."""
    exp = value.normalize().as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def _bounds(value: Decimal, low: Decimal, high: Decimal) -> str:
    return "below_minimum" if value < low else "above_maximum" if value > high else ""


def check_price(spec: MarketSpec, price: Decimal) -> None:
    reason = _bounds(price, spec.min_price, spec.max_price) or (
        "off_step" if price % spec.tick != 0 else "")
    if reason:
        raise errors.filter_failure("PRICE_FILTER", reason)


def check_lot(spec: MarketSpec, qty: Decimal) -> None:
    reason = _bounds(qty, spec.min_qty, spec.max_qty) or (
        "off_step" if qty % spec.step != 0 else "")
    if reason:
        raise errors.filter_failure("LOT_SIZE", reason)


def check_market_lot(spec: MarketSpec, qty: Decimal) -> None:
    reason = _bounds(qty, spec.market_min_qty, spec.market_max_qty)
    if reason:
        raise errors.filter_failure("MARKET_LOT_SIZE", reason)


def check_notional(spec: MarketSpec, notional: Decimal, *, market: bool) -> None:
    if (not market or spec.apply_min_to_market) and notional < spec.min_notional:
        raise errors.filter_failure("NOTIONAL", "below_minimum")
    if (not market or spec.apply_max_to_market) and notional > spec.max_notional:
        raise errors.filter_failure("NOTIONAL", "above_maximum")


def _require(params: dict[str, str], *names: str) -> None:
    for name in names:
        if not params.get(name):
            raise errors.mandatory(name)


def _forbid(params: dict[str, str], *names: str) -> None:
    for name in names:
        if params.get(name):
            raise errors.not_required(name)


def parse_order(params: dict[str, str], markets: dict[str, MarketSpec],
                last_price: dict[str, Decimal]) -> OrderRequest:
    """Validate a ``POST /api/v3/order`` request; raise ``BinanceError`` on the first failure."""
    _require(params, "symbol", "side", "type")
    spec = markets.get(params["symbol"])
    if spec is None:
        raise errors.invalid_symbol()
    side, otype = params["side"], params["type"]
    if side not in ("BUY", "SELL"):
        raise errors.BinanceError(400, -1117, "Invalid side.")
    if otype not in ORDER_TYPES or otype not in spec.order_types:
        raise errors.BinanceError(400, -1116, "Invalid orderType.")
    cid = params.get("newClientOrderId") or None
    if cid is not None and not CLIENT_ID_RE.match(cid):
        raise errors.illegal_chars("newClientOrderId")
    resp_type = params.get("newOrderRespType") or ("FULL" if otype in ("MARKET", "LIMIT") else "ACK")
    if resp_type not in RESP_TYPES:
        raise errors.BinanceError(400, -1100, "Illegal characters found in parameter "
                                              "'newOrderRespType'.")
    if otype == "MARKET":
        return _market(params, spec, side, last_price[spec.symbol], cid, resp_type)
    return _limit(params, spec, side, otype, cid, resp_type)


def _market(params: dict[str, str], spec: MarketSpec, side: str, price: Decimal,
            cid: str | None, resp_type: str) -> OrderRequest:
    _forbid(params, "price", "timeInForce")
    has_qty, has_quote = bool(params.get("quantity")), bool(params.get("quoteOrderQty"))
    if has_qty and has_quote:
        raise errors.not_required("quoteOrderQty")
    if not has_qty and not has_quote:
        raise errors.BinanceError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be "
                                              "sent, but both were empty/null!")
    quote = Decimal(0)
    if has_quote:
        quote = decimal_param(params, "quoteOrderQty", spec.quote_precision)
        check_notional(spec, quote, market=True)
        qty = spec.floor_qty(quote / price)  # Binance never breaks LOT_SIZE for quote orders
        check_lot(spec, qty)
        check_notional(spec, qty * price, market=True)  # what is bought (docs/exchanges.md)
    else:
        qty = decimal_param(params, "quantity", spec.base_precision)
    check_lot(spec, qty)
    check_market_lot(spec, qty)
    if has_qty:
        check_notional(spec, qty * price, market=True)
    return OrderRequest(spec.symbol, side, "MARKET", "GTC", qty, Decimal(0), quote, cid,
                        resp_type)


def _limit(params: dict[str, str], spec: MarketSpec, side: str, otype: str,
           cid: str | None, resp_type: str) -> OrderRequest:
    _forbid(params, "quoteOrderQty")
    if otype == "LIMIT":
        _require(params, "timeInForce", "quantity", "price")
        tif = params["timeInForce"]
        if tif not in TIME_IN_FORCE:
            raise errors.BinanceError(400, -1115, "Invalid timeInForce.")
    elif otype == "LIMIT_MAKER":
        _forbid(params, "timeInForce")
        _require(params, "quantity", "price")
        tif = "GTC"
    else:
        raise errors.BinanceError(400, -1116, "Invalid orderType.")
    price = decimal_param(params, "price", spec.quote_precision)
    qty = decimal_param(params, "quantity", spec.base_precision)
    if price * qty <= 0:
        raise errors.BinanceError(400, -1013, "Price * QTY is zero or less.")
    check_price(spec, price)
    check_lot(spec, qty)
    check_notional(spec, price * qty, market=False)
    return OrderRequest(spec.symbol, side, otype, tif, qty, price, Decimal(0), cid, resp_type)


def market_request(spec: MarketSpec, side: str, price: Decimal, *, qty: Decimal | None = None,
                   quote: Decimal | None = None, client_order_id: str | None = None,
                   quote_fee_rate: Decimal = Decimal(0)) -> OrderRequest:
    """A market order by base ``qty`` or by ``quote`` amount, checked against the market's
    minimums, for dialects that parse their own wire params (Kraken, Coinbase).

    A quote-sized buy executes ``floor(quote / (price * (1 + quote_fee_rate)))`` to the lot
    step, so cost plus a fee charged in the quote currency never exceeds ``quote``; both the
    quote amount and the notional bought (quantity × price, fee left out: the stricter reading
    of ``costmin``/``quote_min_size``, ``docs/exchanges.md``) must reach the minimum. Refusals
    are ``-1013`` filter failures with a ``reason`` (``below_minimum``, ``above_maximum``,
    ``off_step``): ``LOT_SIZE`` (quantity), ``NOTIONAL`` (cost), ``MARKET_LOT_SIZE``.
    """
    if (qty is None) == (quote is None):
        raise ValueError("exactly one of qty and quote")
    if quote is not None:
        check_notional(spec, quote, market=True)
        qty = spec.floor_qty(quote / (price * (1 + quote_fee_rate)))
        check_lot(spec, qty)
        check_market_lot(spec, qty)
        check_notional(spec, qty * price, market=True)  # what is bought, fee left out
        return OrderRequest(spec.symbol, side, "MARKET", "IOC", qty, Decimal(0), quote,
                            client_order_id, "FULL")
    assert qty is not None
    check_lot(spec, qty)
    check_market_lot(spec, qty)
    check_notional(spec, qty * price, market=True)
    return OrderRequest(spec.symbol, side, "MARKET", "IOC", qty, Decimal(0), Decimal(0),
                        client_order_id, "FULL")
