"""``piggy strategy list|start|stop|status|backtest``.

list/status read the runners' status from Redis; start/stop flip the control flag every
runner honours on its next tick; backtest replays a series through the strategy code.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import redis.asyncio as aredis
import typer

from piggy import client, output
from piggy.client import redis_url
from services.strategy import backtest as bt
from services.strategy.config import ConfigError, load
from services.strategy.store import StrategyStore
from shared import redis_conn

app = typer.Typer(help="Strategies: list, start, stop, status, backtest.", no_args_is_help=True)


async def _with_store(fn: Any) -> Any:
    redis = redis_conn.async_client(redis_url(), decode_responses=True)
    try:
        return await fn(StrategyStore(redis))
    except (aredis.RedisError, OSError) as exc:
        output.fail(f"Redis unreachable at {client.redis_shown()} ({type(exc).__name__}); "
                    "is `piggy up` running, and is PIGGY_REDIS_URL right?")
    finally:
        await redis.aclose()


async def _overview(store: StrategyStore) -> list[tuple[str, dict[str, Any], dict[str, str], str]]:
    rows = []
    for name, config in (await store.configs()).items():
        rows.append((name, config, await store.status(name), await store.control(name) or ""))
    return rows


JsonOpt = typer.Option(False, "--json", help="data only, as JSON, on stdout")


def _as_json(rows: list[tuple[str, dict[str, Any], dict[str, str], str]]) -> None:
    output.emit_json([{"name": n, "config": c, "status": s, "control": ctl or None}
                      for n, c, s, ctl in rows])


@app.command("list")
def list_(as_json: bool = JsonOpt) -> None:
    """Every strategy a runner has registered, with its status."""
    output.json_mode(as_json)
    rows = asyncio.run(_with_store(_overview))
    if as_json:
        _as_json(rows)
        return
    if not rows:
        typer.echo("no strategies registered (is the strategy service running with a config?)")
        return
    typer.echo(f"{'NAME':<16}{'KIND':<11}{'STATUS':<10}{'SPENT':>10}  NEXT DUE / LAST ERROR")
    for name, config, status, _control in rows:
        state = status.get("status", "unknown")
        tail = status.get("last_error", "") if state == "failed" else status.get("next_due", "")
        typer.echo(f"{name:<16}{config.get('kind', '?'):<11}{state:<10}"
                   f"{status.get('spent', '-'):>10}  {tail}")


@app.command()
def status(name: str = typer.Argument(None, help="one strategy; default: all"),
           as_json: bool = JsonOpt) -> None:
    """Status, spending, next due time and the last error of each strategy."""
    output.json_mode(as_json)
    rows = asyncio.run(_with_store(_overview))
    rows = [r for r in rows if name is None or r[0] == name]
    if name is not None and not rows:
        output.fail(f"no strategy named {name!r} (see `piggy strategy list`)")
    if as_json:
        _as_json(rows)
        return
    for n, config, st, control in rows:
        typer.echo(f"{n} ({config.get('kind', '?')}, user {config.get('user_id', '?')}, "
                   f"{config.get('symbol', '?')})")
        typer.echo(f"  status: {st.get('status', 'unknown')}   control: {control or 'config'}")
        for field in sorted(set(st) - {"status"}):
            typer.echo(f"  {field}: {st[field]}")


def _flip(name: str, action: str) -> None:
    async def go(store: StrategyStore) -> bool:
        if name not in await store.configs():
            return False
        await (store.start(name) if action == "start" else store.stop(name))
        return True

    if not asyncio.run(_with_store(go)):
        typer.secho(f"no strategy named {name!r} (see `piggy strategy list`)", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"{name}: {'run' if action == 'start' else 'stop'} requested; runners apply it "
               "on their next tick")


@app.command()
def start(name: str) -> None:
    """Run a strategy (also after it failed: clears the failed mark)."""
    _flip(name, "start")


@app.command()
def stop(name: str) -> None:
    """Stop feeding a strategy; its state is kept for a later start."""
    _flip(name, "stop")


ConfigOpt = Annotated[Path, typer.Option("--config", exists=True, dir_okay=False,
                                          help="strategies file (.yaml/.toml)")]
NamesOpt = Annotated[list[str] | None, typer.Option("--strategy", help="only these names")]


@app.command()
def backtest(
    config: ConfigOpt,
    series: Annotated[str, typer.Option(help="'generated' or a CSV file (ts,price)")] = "generated",
    strategy: NamesOpt = None,
    points: Annotated[int, typer.Option(min=2, help="length of the generated series")] = 240,
    step_s: Annotated[float, typer.Option(help="seconds between generated tickers")] = 60.0,
) -> None:
    """Replay a series through the same strategy code and print the intents and a P&L."""
    try:
        configs = load(config, os.environ)
    except ConfigError as exc:
        typer.secho(f"config: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    if strategy:
        configs = [c for c in configs if c.name in strategy]
    if not configs:
        typer.secho("no strategies to run", fg="red", err=True)
        raise typer.Exit(2)
    if series == "generated":
        tickers = []
        for symbol, exchange in sorted({(c.symbol, c.exchange) for c in configs}):
            tickers += bt.generated_series(symbol, exchange, points=points, step_s=step_s)
        tickers.sort(key=lambda t: t.ts)
    else:
        path = Path(series)
        if not path.is_file():
            raise typer.BadParameter(f"{series}: not 'generated' and not a file", param_hint="--series")
        tickers = bt.read_csv(path, configs[0].symbol, configs[0].exchange)
    result = bt.run(configs, tickers)
    typer.echo(f"series: {series} ({len(tickers)} tickers)")
    for line in bt.report(result, configs):
        typer.echo(line)
