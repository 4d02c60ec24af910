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


def live(user: str, symbol: str, amount: Decimal, exchange: str,
         offer: dict[str, Any] | None) -> int:
    """``POST /api/trade`` with ``mode: live``: 0 when placed live, 3 when refused (every
    closed gate named), 1 when no outcome came in time."""
    body: Any = client.call("POST", "/api/trade", answers=frozenset({202, 409, 422, 503}), json={
        "userId": user, "exchange": exchange, "symbolCcxt": symbol, "amountUsd": str(amount),
        "mode": "live"})
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
