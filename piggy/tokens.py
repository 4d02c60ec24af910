"""``piggy token create|list|revoke``: per-user API tokens (stored hashed in Redis)."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aredis
import typer

from piggy import checks, client
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
