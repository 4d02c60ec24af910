"""``piggy test-buy``'s questions to the API before anything is sent, and its answers.

Before an intent is published the API is asked for the exchange's smallest accepted amount
(``GET /api/minimum``): an unknown symbol is reported as unknown with the close matches the API
gives, and nothing is sent; an amount below the minimum is only replaced by the offered minimum
with ``--accept-minimum`` (or a yes at the prompt). With ``--json`` every word for a person goes
to stderr and stdout holds exactly one JSON document, whatever the branch.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import typer

from piggy import client, output
from piggy.output import REFUSED
from shared import tradelog
from shared.events import TradeLogged
from shared.outcomes import MAX_WAIT_S
from shared.settings import ApiSettings


def ask_minimum(exchange: str, symbol: str, amount: Decimal) -> tuple[int, Any]:
    """``(HTTP status, body)`` of ``GET /api/minimum``; ``(0, None)`` when there is no token or
    the API can't be reached (the executor still checks the amount)."""
    settings = ApiSettings()
    token = client._token(settings)
    if not token:
        return 0, None
    try:
        resp = httpx.get(client.api_base(settings) + "/api/minimum", timeout=10.0,
                         headers={"Authorization": f"Bearer {token}"},
                         params={"exchange": exchange, "symbol": symbol,
                                 "amountUsd": format(amount, "f")})
        return resp.status_code, resp.json()
    except (httpx.HTTPError, ValueError):
        return 0, None


def minimum_view(body: dict[str, Any]) -> dict[str, Any]:
    """What the offer says, for ``--json`` (the API's own fields)."""
    keys = ("exchange", "symbol", "price", "minimumUsd", "spendsAtMostUsd", "validUpToPrice",
            "headroomPct", "feeRate", "feeFromAmount", "enough", "explanation")
    return {k: body.get(k) for k in keys}


def at_least_the_minimum(exchange: str, symbol: str, amount: Decimal,
                         accept: bool) -> tuple[Decimal, dict[str, Any] | None]:
    """The amount to send and the offer it was checked against (None: the API did not say).
    Refuses (exit 3, nothing sent) for an unknown symbol, or an amount below the minimum
    without ``--accept-minimum``."""
    talk = output.human()
    status, body = ask_minimum(exchange, symbol, amount)
    if status == 404 and isinstance(body, dict) and body.get("error") == "unknown_symbol":
        close = [str(c) for c in body.get("closeMatches") or []]
        hint = f"; close matches: {', '.join(close)}" if close else "; no close match"
        output.fail(f"unknown symbol {symbol!r} on {exchange}{hint}. Nothing sent.", REFUSED,
                    data={"refused": "unknown_symbol", "symbol": symbol, "exchange": exchange,
                          "closeMatches": close, "sent": False})
    if status != 200 or not isinstance(body, dict):
        output.err().print("[yellow]could not ask the API for the exchange's minimum "
                           f"({'no API token or API unreachable' if status == 0 else status}); "
                           "sending as is: the exchange's minimum is still checked before the "
                           "order leaves[/]")
        return amount, None
    offer = minimum_view(body)
    if body.get("enough"):
        return amount, offer
    smallest = Decimal(str(body["minimumUsd"]))
    talk.print(f"[yellow]{body['reason']}[/]\nthe smallest amount {exchange} accepts for "
               f"{body['symbol']} now: ${smallest} (spends at most ${smallest}, fee included; "
               f"holds while the price stays at or below {body.get('validUpToPrice')})")
    if accept or (not output.is_json() and talk.is_terminal
                  and typer.confirm(f"buy ${smallest} instead?")):
        return smallest, offer
    output.fail(f"${amount} is below {exchange}'s minimum for {body['symbol']} (${smallest}); "
                f"nothing sent: run again with --usd {smallest} or --accept-minimum", REFUSED,
                data={"refused": "below_minimum", "minimum": offer, "sent": False})


def trade(user: str, symbol: str, amount: Decimal, exchange: str, *, live: bool,
          timeout_s: float) -> tuple[int, Any]:
    """``POST /api/trade`` for ``piggy test-buy``, both modes through the one door (the API
    checks the token, the exchange and the symbol, publishes the intent, waits for its
    outcome): ``(HTTP status, body)``."""
    payload = {"userId": user, "exchange": exchange, "symbolCcxt": symbol,
               "amountUsd": format(amount, "f"), "source": "test-buy",
               "waitS": min(timeout_s, MAX_WAIT_S)}
    body: Any = client.call("POST", "/api/trade", timeout=timeout_s + 30,
                            answers=frozenset({202, 409, 422, 503}),
                            json=payload | ({"mode": "live"} if live else {}))
    status = 202 if body.get("status") == "pending" else 200 if body.get("line") else 400
    return status, body


def paper_or_live(user: str, symbol: str, amount: Decimal, exchange: str,
                  offer: dict[str, Any] | None, timeout_s: float) -> int:
    """``piggy test-buy`` without ``--live``: live when every gate is open, else paper; the
    trade line printed. 0 when accepted, 3 when rejected (every reason printed), 1 when no
    outcome came in time."""
    status, body = trade(user, symbol, amount, exchange, live=False, timeout_s=timeout_s)
    intent_id = body.get("intentId")
    if status == 202:
        output.fail(f"no outcome for intent {intent_id} within {timeout_s:g}s: is the executor "
                    "running? (`piggy trades` shows it once it lands)",
                    data={"intent": {"intent_id": intent_id,
                                     "correlation_id": body.get("correlationId")},
                          "outcome": None, "minimum": offer})
    if status != 200:  # refused before it was sent (422), or not confirmed by Redis (503)
        detail = body.get("error") or body.get("detail")
        output.fail(str(detail), REFUSED if intent_id is None else 1,
                    data={"intent": {"intent_id": intent_id} if intent_id else None,
                          "outcome": None, "minimum": offer, "answer": body})
    line = TradeLogged.model_validate(body["line"])
    code = REFUSED if line.status == "rejected" else 0
    intent = {"intent_id": line.intent_id, "correlation_id": line.correlation_id,
              "user_id": line.user_id, "exchange": line.exchange, "symbol": line.symbol,
              "side": line.side.value, "amount_usd": format(line.amount_usd, "f"),
              "source": line.source}
    if output.is_json():
        output.emit_json({"ok": code == 0, "exitCode": code, "intent": intent,
                          "outcome": line.model_dump(mode="json"), "minimum": offer})
    else:
        output.say(f"intent {line.intent_id} (correlation {line.correlation_id}) published")
        print_trade(line)
    return code


def print_trade(line: TradeLogged) -> None:
    color = {"LIVE": "bold red", "PAPER": "cyan"}.get(line.mode.value, "yellow")
    output.out().print(
        f"[{color}]{line.mode.value}[/] {line.status} {line.side.value} {line.exchange} "
        f"{line.symbol} {tradelog.amounts(line)} user={line.user_id} intent={line.intent_id} "
        f"client_order_id={line.client_order_id or '-'} order={line.order_id or '-'} "
        f"corr={line.correlation_id}"
        + (f"\n  closed gates / reasons: {'; '.join(line.reasons)}" if line.reasons else ""))


def live(user: str, symbol: str, amount: Decimal, exchange: str,
         offer: dict[str, Any] | None, timeout_s: float) -> int:
    """``POST /api/trade`` with ``mode: live``: 0 when placed live, 3 when refused (every
    closed gate named), 1 when no outcome came in time."""
    _status, body = trade(user, symbol, amount, exchange, live=True, timeout_s=timeout_s)
    body = {k: v for k, v in body.items() if k != "line"}
    status, mode = body.get("status"), body.get("mode")
    code = 1 if status == "pending" else 0 if body.get("ok") and mode == "LIVE" else REFUSED
    if output.is_json():
        output.emit_json({**body, "minimum": offer, "exitCode": code})
        return code
    console = output.out()
    if status == "pending":
        console.print(f"[yellow]no outcome yet for intent {body.get('intentId')}[/]; "
                      "`piggy trades` shows it once it lands")
    elif code == 0:
        console.print(f"[bold red]LIVE[/] {status} {symbol} ${amount} user={user} "
                      f"order={body.get('orderId')} intent={body.get('intentId')} "
                      f"spent {body.get('cost')} fee {body.get('fee')} {body.get('feeCurrency')}")
    else:
        console.print(f"[red]not placed live[/] ({status or 'refused'}):")
        for reason in body.get("reasons") or [body.get("error") or body.get("detail")]:
            console.print(f"  {reason}")
    return code
