"""Pure view-model helpers: API answers in, rows and messages for the page out. No I/O."""
from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.exchanges import EXCHANGES, TEST_SYMBOLS

__all__ = ["EXCHANGES", "TEST_SYMBOLS"]
MIN_TRADE_USD = Decimal(2)
TEST_SYMBOL = "BTC/USDT"
MODE_BADGE = {"LIVE": "LIVE", "PAPER": "PAPER", "NONE": "none"}
GATE_LABEL = {
    "allow_live": "ALLOW_LIVE=1",
    "credentials": "API keys validated",
    "gateway_heartbeat": "Gateway heartbeat",
    "armed": "Armed for this user",
    "kill_switch": "Emergency stop off",
    "dry_run": "Dry-run off",
}
FAILED = frozenset({"rejected", "failed", "error", "canceled", "expired"})


@dataclass(frozen=True)
class Message:
    level: str  # success | error | warning | info
    text: str


def new_user_id(token: Callable[[], str] = lambda: secrets.token_hex(4)) -> str:
    return f"piggy-{token()}"


def validation_message(body: Mapping[str, Any] | None) -> Message:
    """The validation status of a user's keys (a /api/credentials answer) in one line."""
    if not body:
        return Message("info", "No API keys saved for this user yet.")
    status = str(body.get("status") or "missing")
    masked = body.get("apiKeyMasked") or ""
    key = f" (key {masked})" if masked else ""
    if body.get("validated") and body.get("canTrade"):
        warning = f" Warning: {body['warning']}" if body.get("warning") else ""
        return Message("success", f"Keys validated{key}: trading allowed.{warning}")
    if body.get("validated"):
        return Message("warning", f"Keys valid{key} but not allowed to trade at the exchange.")
    if status == "pending":
        return Message("info", f"Keys saved{key}; validation with the exchange is still running.")
    if status == "missing":
        return Message("info", "No API keys saved for this user yet.")
    reason = body.get("error") or body.get("reasonCode") or "no reason given"
    return Message("error", f"Keys {status}{key}: {reason}")


def gate_rows(live: Mapping[str, Any] | None) -> list[dict[str, str]]:
    return [{"Gate": GATE_LABEL.get(g.get("gate", ""), g.get("gate", "")),
             "State": "open" if g.get("open") else "CLOSED",
             "Reason": g.get("reason", "")}
            for g in (live or {}).get("gates", [])]


def closed_gates(live: Mapping[str, Any] | None, *, ignore: Iterable[str] = ("armed",)) -> list[str]:
    skip = set(ignore)
    return [f"{GATE_LABEL.get(g['gate'], g['gate'])}: {g.get('reason', '')}"
            for g in (live or {}).get("gates", []) if not g.get("open") and g.get("gate") not in skip]


def is_armed(live: Mapping[str, Any] | None) -> bool:
    return bool((live or {}).get("armed"))


def is_halted(live: Mapping[str, Any] | None) -> bool:
    return any(g.get("gate") == "kill_switch" and not g.get("open")
               for g in (live or {}).get("gates", []))


def parse_amount(value: object, minimum: Decimal = MIN_TRADE_USD) -> tuple[Decimal | None, str]:
    """A USD amount for a test trade, or the reason it is refused."""
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None, f"{value!r} is not an amount in USD"
    if not amount.is_finite() or amount < minimum:
        return None, f"the test trade amount must be at least ${minimum:.2f}"
    return amount, ""


def trade_message(body: Mapping[str, Any] | None) -> Message:
    """The outcome of POST /api/trade: the order id, or every reason it was refused."""
    body = body or {}
    mode, status = body.get("mode") or "", body.get("status") or "unknown"
    reasons = "; ".join(body.get("reasons") or []) or "no reason given"
    if status == "pending":
        return Message("warning", f"No outcome yet: {reasons}")
    if not body.get("ok") or status in FAILED:
        return Message("error", f"{mode or 'Order'} {status}: {reasons}")
    order = body.get("orderId") or "—"
    spent = f" — {body['summary']}" if body.get("summary") else ""
    return Message("success", f"{MODE_BADGE.get(mode, mode)} {status}: order id {order}{spent}")


def minimum_message(body: Mapping[str, Any] | None) -> Message | None:
    """None when the amount is enough; else the exchange's minimum, offered before sending."""
    body = body or {}
    if body.get("enough", True):
        return None
    return Message("warning", f"{body.get('reason')}. The smallest amount {body.get('exchange')} "
                              f"accepts for {body.get('symbol')} now is ${body.get('minimumUsd')}: "
                              "it is filled in above; press Test BUY again to buy it. "
                              "Nothing was sent.")


def trade_rows(lines: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Trade log lines (newest first, as the API answers) as table rows."""
    rows = []
    for line in lines:
        ts = str(line.get("ts") or "")
        rows.append({
            "Time (UTC)": ts.replace("T", " ")[:19],
            "Mode": MODE_BADGE.get(str(line.get("mode")), str(line.get("mode"))),
            "Status": str(line.get("status", "")),
            "Side": str(line.get("side", "")),
            "Symbol": str(line.get("symbol", "")),
            "Exchange": str(line.get("exchange") or ""),
            "Asked USD": _money(line.get("amount_usd")),
            "Filled": _plain(line.get("filled")) if _dec(line.get("filled")) else "",
            "Cost": _plain(line.get("cost")) if _dec(line.get("cost")) else "",
            "Fee": (f"{_plain(line.get('fee'))} {line.get('fee_currency') or ''}".strip()
                    if _dec(line.get("fee")) else ""),
            "Order id": str(line.get("order_id") or ""),
            "Reasons": "; ".join(line.get("reasons") or []),
            "Source": str(line.get("source") or ""),
        })
    return rows


def balance_rows(report: Mapping[str, Any] | None) -> tuple[list[dict[str, str]], str]:
    """Balances with their USD values, largest first, and the total in USD."""
    report = report or {}
    items = (report.get("balances") or {}).items()
    ordered = sorted(items, key=lambda kv: _dec(kv[1].get("usd")) or Decimal(0), reverse=True)
    rows = [{"Asset": asset, "Free": _plain(b.get("free")), "Used": _plain(b.get("used")),
             "Total": _plain(b.get("total")),
             "USD value": _money(b.get("usd")) if b.get("usd") is not None else "no price"}
            for asset, b in ordered]
    return rows, _money(report.get("total_usd", 0))


def position_rows(report: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """The positions table: what is held, what it cost with fees, what it is worth now."""
    rows = []
    for p in (report or {}).get("positions") or []:
        quote = str(p.get("quote") or "")
        rows.append({
            "Exchange": str(p.get("exchange", "")),
            "Mode": MODE_BADGE.get(str(p.get("mode")), str(p.get("mode"))),
            "Asset": str(p.get("asset", "")),
            "Quantity": _plain(p.get("quantity")),
            "Cost with fees": f"{_plain(p.get('cost_basis'))} {quote}",
            "Avg price": _price(p.get("average_price")),
            "Value now": (f"{_plain(p.get('value'))} {quote}" if p.get("value") is not None
                          else "no price"),
            "Unrealized PnL": _plain(p.get("unrealized_pnl")),
            "Realized PnL": _plain(p.get("realized_pnl")),
            "Fees": ", ".join(f"{_plain(v)} {k}" for k, v in (p.get("fees") or {}).items()),
            "Method": str(p.get("method", "")),
        })
    return rows


def value_series(report: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Holdings value and money put in over time, one column pair per mode and quote currency
    (``Holdings value (PAPER USDT)``, ``Money put in (PAPER USDT)``), oldest first."""
    out = []
    for point in (report or {}).get("history") or []:
        where = f"({point.get('mode')} {point.get('quote')})"
        out.append({"time": str(point.get("time", "")),
                    f"Holdings value {where}": float(_dec(point.get("value")) or 0),
                    f"Money put in {where}": float(_dec(point.get("invested")) or 0)})
    return out


def _price(value: object) -> str:
    """A price for reading: cents from 1 up, 8 places below (the books keep it exact)."""
    d = _dec(value)
    if d is None:
        return ""
    return f"{d.quantize(Decimal('0.01') if abs(d) >= 1 else Decimal('1e-8')).normalize():f}"


def _dec(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _money(value: object) -> str:
    d = _dec(value)
    return f"${d:,.2f}" if d is not None else ""


def _plain(value: object) -> str:
    d = _dec(value)
    return f"{d.normalize():f}" if d is not None else ""
