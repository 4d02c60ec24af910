"""``piggy keys set|status|delete``: exchange API keys through the HTTP API.

The secret is never a command-line argument (it would land in shell history and ``ps``): it is
prompted without echo, read from ``PIGGY_API_SECRET``, or read from stdin (``--secret-stdin``).
"""
from __future__ import annotations

import os
import sys
from typing import Any

import typer

from piggy import checks, output
from piggy.client import call

app = typer.Typer(help="Exchange API keys: save (encrypted), validate, status, delete.", no_args_is_help=True)

SECRET_ENV = "PIGGY_API_SECRET"


def read_secret(from_stdin: bool) -> str:
    """The secret from stdin, the environment, or a no-echo prompt, in that order."""
    if from_stdin:
        secret = sys.stdin.readline().strip()
    elif os.environ.get(SECRET_ENV):
        secret = os.environ[SECRET_ENV].strip()
    else:
        secret = typer.prompt("API secret", hide_input=True).strip()
    if not secret:
        raise typer.BadParameter("the API secret is empty")
    return secret


def _show(body: dict[str, Any]) -> None:
    status = body.get("status", "?")
    color = {"validated": "green", "pending": "yellow"}.get(status, "red")
    typer.secho(f"user {body.get('userId')} on {body.get('exchange', '?')}: {status}", fg=color,
                bold=True)
    if body.get("apiKeyMasked"):
        typer.echo(f"  key:          {body['apiKeyMasked']}")
    if "canTrade" in body:
        typer.echo(f"  can trade:    {'yes' if body.get('canTrade') else 'no'}")
        typer.echo(f"  can withdraw: {'YES' if body.get('canWithdraw') else 'no'}")
    if body.get("checkedAt"):
        typer.echo(f"  checked at:   {body['checkedAt']}")
    if body.get("error"):
        typer.secho(f"  reason:       {body['error']}", fg="red")
    if body.get("warning"):
        typer.secho(f"  {body['warning']}", fg="yellow", bold=True)
    if body.get("message"):
        typer.echo(f"  {body['message']}")


@app.command("set")
def set_keys(
    api_key: str = typer.Option(..., "--api-key", help="the exchange API key (not the secret)"),
    user: str | None = typer.Option(None, "--user", help="user id; generated when omitted",
                                      callback=checks.user),
    exchange: str = typer.Option("binanceus", "--exchange", callback=checks.exchange),
    secret_stdin: bool = typer.Option(False, "--secret-stdin",
                                      help="read the secret from the first line of stdin"),
) -> None:
    """Save a key (encrypted) and wait for the exchange to validate it."""
    secret = read_secret(secret_stdin)
    body: dict[str, Any] = {"exchange": exchange, "apiKey": api_key, "apiSecret": secret}
    if user:
        body["userId"] = user
    result = call("POST", "/api/credentials", json=body, answers=frozenset({422, 503}))
    _show(result)
    if result.get("status") not in ("validated", "pending"):
        raise typer.Exit(output.REFUSED)


@app.command("status")
def status(user: str = typer.Option(..., "--user", callback=checks.user),
           exchange: str | None = typer.Option(None, "--exchange", callback=checks.exchange),
           as_json: bool = typer.Option(False, "--json", help="data only, as JSON, on stdout")) -> None:
    """Validation status and masked key (never the secret)."""
    output.json_mode(as_json)
    params = {"exchange": exchange} if exchange else None
    result = call("GET", f"/api/credentials/{user}", params=params)
    if as_json:
        output.emit_json(result)
        return
    for view in result.get("credentials") or [result]:
        _show(view)


@app.command("delete")
def delete(user: str = typer.Option(..., "--user", callback=checks.user),
           exchange: str | None = typer.Option(None, "--exchange", callback=checks.exchange)) -> None:
    """Remove the stored key; live trading for the user is disarmed."""
    params = {"exchange": exchange} if exchange else None
    result = call("DELETE", f"/api/credentials/{user}", params=params)
    typer.secho(f"deleted keys of user {user} on {', '.join(result.get('deleted', []))}",
                fg="yellow")
