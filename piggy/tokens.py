"""``piggy token create|list|revoke``: per-user API tokens (stored hashed in Redis), and the
live-or-nothing test buy through the API (``piggy test-buy --live``)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import redis.asyncio as aredis
import typer
from rich.console import Console

from piggy import checks, client
from piggy.output import REFUSED
from shared import redis_conn, tokens

app = typer.Typer(help="Per-user API tokens: each acts only for its own user id.",
                  no_args_is_help=True)
T = TypeVar("T")


def _with_redis(job: Callable[[aredis.Redis], Awaitable[T]]) -> T:
    url = client.redis_url()

    async def run() -> T:
        redis = redis_conn.async_client(url, decode_responses=True)
        try:
            return await job(redis)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(run())
    except (aredis.ConnectionError, aredis.TimeoutError, OSError) as exc:
        typer.secho(f"Redis unreachable ({type(exc).__name__}): is `piggy up` running, and is "
                    "PIGGY_REDIS_URL right?", fg="red", err=True)
        raise typer.Exit(1) from exc


@app.command("create")
def create(user: str = typer.Option(..., "--user", callback=checks.user),
           label: str = typer.Option("", help="a note to tell tokens apart")) -> None:
    """A new token for USER, printed once (only its hash is kept)."""
    token, info = _with_redis(lambda r: tokens.create(r, user, label))
    typer.echo(f"token for user {info.user} (id {info.id}); shown once, keep it safe:")
    typer.echo(token)


@app.command("list")
def list_tokens(user: str | None = typer.Option(None, "--user", callback=checks.user)) -> None:
    """Every token's id, user, creation time and label (never the token)."""
    found = _with_redis(lambda r: tokens.list_all(r, user))
    for info in found:
        typer.echo(f"{info.id}  user={info.user}  created={info.created}"
                   + (f"  label={info.label}" if info.label else ""))
    if not found:
        typer.echo("no user tokens")


@app.command("revoke")
def revoke(user: str | None = typer.Option(None, "--user", callback=checks.user),
           token_id: str | None = typer.Option(None, "--id", help="one token, by its id")) -> None:
    """Revoke every token of USER (or the one with --id); they stop working at once."""
    if user is None and token_id is None:
        raise typer.BadParameter("name --user or --id")
    gone = _with_redis(lambda r: tokens.revoke(r, user_id=user, token_id=token_id))
    typer.echo(f"revoked {len(gone)} token(s)" + (f": {', '.join(i.id for i in gone)}" if gone else ""))
    if not gone:
        raise typer.Exit(1)


def live_test_buy(user: str, symbol: str, amount: Decimal, exchange: str, console: Console) -> int:
    """``POST /api/trade`` with ``mode: live``: 0 when placed live, 3 when refused (every
    closed gate printed), 1 when no outcome came in time."""
    body: Any = client.call("POST", "/api/trade", answers=frozenset({202, 409, 422, 503}), json={
        "userId": user, "exchange": exchange, "symbolCcxt": symbol, "amountUsd": str(amount),
        "mode": "live"})
    status, mode = body.get("status"), body.get("mode")
    if status == "pending":
        console.print(f"[yellow]no outcome yet for intent {body.get('intentId')}[/]; "
                      "`piggy trades` shows it once it lands")
        return 1
    if body.get("ok") and mode == "LIVE":
        console.print(f"[bold red]LIVE[/] {status} {symbol} ${amount} user={user} "
                      f"order={body.get('orderId')} intent={body.get('intentId')}")
        return 0
    console.print(f"[red]not placed live[/] ({status or 'refused'}):")
    for reason in body.get("reasons") or [body.get("error") or body.get("detail")]:
        console.print(f"  {reason}")
    return REFUSED
