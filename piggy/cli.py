"""``piggy``: run the stack, trade a test amount, operate the live switch and emergency stop."""
from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Coroutine
from decimal import Decimal
from importlib import metadata
from typing import Any, TypeVar

import redis
import typer
from pydantic import ValidationError

from piggy import (
    books,
    buy,
    checks,
    client,
    keys,
    ops,
    output,
    positions,
    reconcile,
    redis_cli,
    strategy,
    tokens,
)
from piggy import config as config_cli
from piggy.ha_redis import HaPorts
from piggy.output import EXIT_CODES, FAILED, REFUSED, USAGE, fail
from piggy.stack import Ports, Stack, StackError
from shared import redis_acl
from shared.config_file import CONFIG_ENV, ConfigFileError
from shared.exchanges import DEFAULT_EXCHANGE, EXCHANGES, TEST_SYMBOLS, check
from shared.settings import (
    ApiSettings,
    HomeSettings,
    RedisSettings,
    StackSettings,
)

app = typer.Typer(help="CryptoPiggy operator CLI.", epilog=EXIT_CODES, no_args_is_help=True,
                  add_completion=False)
app.add_typer(keys.app, name="keys")
app.add_typer(strategy.app, name="strategy")
app.add_typer(tokens.app, name="token")
app.add_typer(config_cli.app, name="config")
app.add_typer(books.app, name="books")
app.command("positions")(positions.positions)
app.command("pnl")(positions.pnl)
app.command("reconcile")(reconcile.reconcile)
app.add_typer(redis_cli.app, name="redis")
live_app = typer.Typer(help="The live-trading switch: arm, disarm, status.", no_args_is_help=True)
app.add_typer(live_app, name="live")
T = TypeVar("T")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"piggy {metadata.version('cryptopiggy')}")
        raise typer.Exit()


def _config_path(value: str | None) -> str | None:
    if value:  # children of `piggy up` inherit it through the environment
        os.environ[CONFIG_ENV] = value
    return value


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print the version and exit"),
    config: str | None = typer.Option(None, "--config", callback=_config_path, is_eager=True,
                                      metavar="FILE", help=f"the piggy.toml to use (else ${CONFIG_ENV}, "
                                      "~/.config/cryptopiggy/piggy.toml, <state folder>/piggy.toml)"),
) -> None:
    """CryptoPiggy operator CLI. Settings: environment > piggy.toml > defaults (`piggy config show`)."""
    output.json_mode(False)  # a --json command sets it for itself


def _usd(text: str) -> Decimal:
    return checks.amount(text)


def _redis_url() -> str:
    return client.redis_url()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one Redis-backed operation; an unreachable Redis is one clear line, not a traceback."""
    try:
        return asyncio.run(coro)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        fail(f"Redis unreachable at {client.redis_shown()} ({type(exc).__name__}). "
             "Is `piggy up` running, and is PIGGY_REDIS_URL right?")


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the stack cleanly (SIGINT is ignored in background jobs)."""
    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def _exchange(value: str) -> str:
    try:
        return check(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


EXCHANGE_OPTION = typer.Option(DEFAULT_EXCHANGE, "--exchange", callback=_exchange,
                               help=f"one of {', '.join(EXCHANGES)}")


def _run_stack(once: bool, demo: bool, exchange: str = DEFAULT_EXCHANGE, ha: bool = False) -> None:
    _stop_on_signals()
    config_cli.check_file()
    home = HomeSettings().home
    redis_settings = RedisSettings()
    env_url = redis_settings.redis_url if "redis_url" in redis_settings.model_fields_set else None
    if redis_settings.redis_sentinels:  # an existing Sentinel setup: its URL, without our login
        env_url = redis_settings.model_copy(update={"redis_password": None}).url()
    api = ApiSettings(home=home.resolve())
    stack_settings = StackSettings()
    console = output.out()
    stack = Stack(home=home, ports=Ports.from_settings(stack_settings, api), redis_url=env_url or None,
                  settings=stack_settings, say=lambda m: console.print(m, highlight=False),
                  acl=redis_settings.redis_acl,
                  acl_passwords=redis_acl.configured_passwords(os.environ),
                  redis_admin_url=redis_settings.url() if env_url else None,
                  ha=HaPorts.from_redis_port(stack_settings.redis_port) if ha else None)
    console.print(f"[bold]CryptoPiggy[/] starting on loopback (paper mode unless ALLOW_LIVE=1); "
                  f"state in {home.resolve()}")
    try:
        first_start = api.api_token is None and not api.token_file.exists()
        try:
            took = stack.start(timeout=stack_settings.start_timeout_s)
        except StackError as exc:
            fail(str(exc))
        console.print(f"[green]all healthy in {took:.1f}s[/]. API {stack.api_url} "
                      f"(docs {stack.api_url}/docs), dashboard {stack.dashboard_url}, "
                      f"sandbox {stack.sandbox_url}")
        console.print("metrics (Prometheus): " + ", ".join(
            f"{name} {url}" for name, url in stack.metrics_urls.items())
            + "; scrape config: deploy/prometheus.yml")
        if first_start:  # shown once, when it is created; afterwards only where it lives
            console.print(f"API token (new, shown once): {client.api_token(api)}  "
                          f"(kept in {api.token_file}, mode 0600)")
        else:
            console.print(f"API token: in {api.token_file if api.api_token is None else 'PIGGY_API_TOKEN'}")
        if demo:
            _demo_buy(stack.operator_url(), exchange)
        if once:
            return
        console.print("running; Ctrl-C stops everything")
        while True:
            for report in stack.supervise_once():
                console.print(report, style="bold red", markup=False)
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        stack.stop()


def _demo_buy(redis_url: str, exchange: str) -> None:
    console = output.out()
    symbol = TEST_SYMBOLS[exchange]
    console.print(f"$2 test buy of {symbol} on {exchange} for user 'demo'…")
    intent, line = _run(ops.test_buy(redis_url, user_id="demo", symbol=symbol,
                                     usd=Decimal(2), exchange=exchange, timeout_s=20))
    if line is None:
        fail(f"no outcome for the demo's intent {intent.intent_id} within 20 s; see the executor's "
             "log in the state folder's logs/")
    console.print("trade log:")
    buy.print_trade(line)
    if line.mode.value in ("LIVE", "PAPER") and line.filled:
        held = positions.journaled_position(redis_url, "demo", exchange, line.symbol,
                                            line.mode.value, intent.intent_id)
        console.print("position (from the books): " + (
            positions.describe_position(held) if held is not None else
            "not journaled within 20 s; `piggy positions --user demo` shows it once it is"),
            highlight=False)


@app.command()
def up(once: bool = typer.Option(False, "--once", help="start, check health, stop, exit 0"),
       ha: bool = typer.Option(False, "--ha", help="Redis as a primary, a replica and three "
                               "sentinels (failover: `piggy redis failover`)")) -> None:
    """Start Redis, the sandbox exchange and every service on loopback, supervised."""
    _run_stack(once, demo=False, ha=ha)


@app.command()
def demo(once: bool = typer.Option(False, "--once", help="run the demo once and exit 0"),
         exchange: str = EXCHANGE_OPTION) -> None:
    """Start the stack, run the $2 test buy (paper) on EXCHANGE, print the trade log line."""
    _run_stack(once, demo=True, exchange=exchange)


JsonOpt = typer.Option(False, "--json", help="data only, as JSON, on stdout")


@app.command("test-buy")
def test_buy(usd: str = typer.Option("2", help="USD amount to buy"),
             symbol: str = typer.Option("", help="default: the exchange's BTC pair"),
             user: str = typer.Option("demo", "--user", callback=checks.user),
             exchange: str = typer.Option(DEFAULT_EXCHANGE, callback=checks.exchange),
             accept_minimum: bool = typer.Option(
                 False, "--accept-minimum",
                 help="when the amount is below the exchange's minimum, buy that minimum"),
             timeout: float = typer.Option(20.0, help="seconds to wait for the outcome"),
             live: bool = typer.Option(False, "--live", help="LIVE or nothing (through the API): "
                                       "exit 3 naming every closed gate instead of a paper fill"),
             as_json: bool = JsonOpt) -> None:
    """Buy through the API (``POST /api/trade``) and wait for the outcome: live when every gate
    is open, else paper; with --live, live or nothing.

    Before anything is sent the API is asked for the exchange's smallest accepted amount: an
    unknown symbol is refused (exit 3) with the API's close matches; when the amount is below the
    minimum, that minimum (what the buy spends at most, fee included) is shown and only bought
    with --accept-minimum (or a yes at the prompt). With --json, stdout is one JSON document."""
    output.json_mode(as_json)
    amount = _usd(usd)
    symbol = checks.symbol(symbol or TEST_SYMBOLS[exchange])
    amount, offer = buy.at_least_the_minimum(exchange, symbol, amount, accept_minimum)
    if live:
        raise typer.Exit(buy.live(user, symbol, amount, exchange, offer, timeout))
    raise typer.Exit(buy.paper_or_live(user, symbol, amount, exchange, offer, timeout))


@app.command()
def trades(user: str | None = typer.Option(None, "--user", callback=checks.user),
           limit: int = typer.Option(20, min=1, max=1000),
           before: str | None = typer.Option(None, "--before", metavar="CURSOR",
                                             help="the next page: the cursor the last one printed"),
           as_json: bool = JsonOpt) -> None:
    """Print the trade history from the books, newest first (tab-separated when piped)."""
    output.json_mode(as_json)
    page = books.trades_page(user, limit, before)
    lines = page.lines
    if as_json:
        output.emit_json(lines)
    else:
        output.table(["time", "mode", "status", "user", "exchange", "symbol", "side", "asked usd",
                      "filled", "cost", "fee", "order id", "intent", "reasons"],
                     [(ln["ts"][11:19], ln["mode"], ln["status"], ln["user_id"], ln["exchange"],
                       ln["symbol"], ln["side"], ln["amount_usd"],
                       ln["filled"] if ln["filled"] != "0" else "",
                       ln["cost"] if ln["cost"] != "0" else "",
                       f"{ln['fee']} {ln['fee_currency']}".strip() if ln["fee"] != "0" else "",
                       ln["order_id"] or "-", ln["intent_id"], "; ".join(ln["reasons"]))
                      for ln in lines])
    if page.next:
        output.err().print(f"more: piggy trades{' --user ' + user if user else ''} "
                           f"--limit {limit} --before '{page.next}'", highlight=False)


@app.command()
def logs(correlation: str = typer.Option(..., "--correlation", help="the correlation id "
                                         "(`piggy trades --json`, `piggy test-buy`)")) -> None:
    """One intent's story across every service's log (the state folder's logs/), in time order."""
    from piggy import logview

    folder = HomeSettings().home / "logs"
    files = logview.log_files(folder)
    if not files:
        fail(f"no log files in {folder} (is PIGGY_HOME right?)")
    found = logview.story(logview.read_lines(files), correlation)
    if not found:
        fail(f"no line with correlation id {correlation} in {len(files)} log file(s) under {folder}")
    for line in found:
        typer.echo(line.render())


@app.command()
def kill(reason: str = typer.Option("emergency stop", help="why")) -> None:
    """Emergency stop: no live order leaves any executor until `piggy resume`."""
    _run(ops.halt(_redis_url(), reason))
    output.say("[bold red]HALTED[/]: no live order will leave the executor until `piggy resume`")


@app.command()
def resume() -> None:
    """Lift the emergency stop."""
    _run(ops.resume(_redis_url()))
    output.say("[green]ACTIVE[/]: trading may resume (live still needs every gate)")


def _print_status(body: dict[str, object], as_json: bool = False) -> None:
    if as_json:
        output.emit_json(body)
        return
    console = output.out()
    armed = body.get("armed")
    where = f" on {body['exchange']}" if body.get("exchange") else ""
    console.print((f"[bold white on red] LIVE ARMED{where} [/]" if armed
                   else f"[cyan]not armed{where}[/]") + f"  {body.get('message', '')}")
    gates = body.get("gates")
    for gate in gates if isinstance(gates, list) else []:
        mark = "[green]open  [/]" if gate["open"] else "[red]CLOSED[/]"
        console.print(f"  {mark} {gate['gate']:<18} {gate['reason']}")


@live_app.command("arm")
def live_arm(user: str = typer.Option(..., "--user", callback=checks.user),
             exchange: str = EXCHANGE_OPTION,
             token: str = typer.Option("", "--token", envvar="PIGGY_CONFIRM_TOKEN",
                                       help="the LIVE_CONFIRM_TOKEN, when the executor requires one"),
             as_json: bool = JsonOpt) -> None:
    """Arm live trading for a user on EXCHANGE (only there): only when every other gate is open
    (exit 3 when not)."""
    output.json_mode(as_json)
    body = client.call("POST", "/api/live/arm", json={"userId": user, "exchange": exchange,
                                                      "confirmToken": token})
    _print_status(body, as_json)
    raise typer.Exit(0 if body.get("ok") else REFUSED)


@live_app.command("disarm")
def live_disarm(user: str = typer.Option(..., "--user", callback=checks.user),
                exchange: str | None = typer.Option(
                    None, "--exchange", help="disarm only there (default: every exchange)"),
                as_json: bool = JsonOpt) -> None:
    """Disarm live trading for a user, on one exchange or on all (always works)."""
    output.json_mode(as_json)
    body: dict[str, object] = {"userId": user}
    if exchange is not None:
        body["exchange"] = _exchange(exchange)
    _print_status(client.call("POST", "/api/live/disarm", json=body), as_json)


@live_app.command("status")
def live_status(user: str = typer.Option(..., "--user", callback=checks.user),
                exchange: str = EXCHANGE_OPTION, as_json: bool = JsonOpt) -> None:
    """Every gate on EXCHANGE, open or closed, with its reason (arming is per exchange)."""
    output.json_mode(as_json)
    _print_status(client.call("GET", f"/api/live/{user}", params={"exchange": exchange}), as_json)


@app.command("sandbox-key")
def sandbox_key(user: str = typer.Option("demo", "--user", callback=checks.user),
                usdt: str = typer.Option("1000", "--funds", "--usdt",
                                         help="starting balance in the test pair's quote currency"),
                exchange: str = EXCHANGE_OPTION,
                can_trade: bool = typer.Option(True, "--can-trade/--no-trade")) -> None:
    """Create a funded key at the sandbox's EXCHANGE venue and save it for USER through the API.

    The secret goes from the sandbox straight into the vault; it is never printed."""
    from sandbox.admin import SandboxAdmin

    url = client.exchange_url(exchange)
    if not url:
        fail(f"no sandbox for {exchange}: start the stack (`piggy up`, which serves every "
             f"exchange's sandbox) or set PIGGY_{exchange.upper()}_URL")
    quote = TEST_SYMBOLS[exchange].split("/")[1]
    try:
        key = SandboxAdmin(url).create_key(balances={quote: str(_usd(usdt))}, can_trade=can_trade)
    except Exception as exc:  # any failure to reach the sandbox is one line
        fail(f"sandbox exchange unreachable at {url} ({type(exc).__name__}); is `piggy up` running?")
    body = client.call("POST", "/api/credentials", answers=frozenset({422, 503}), json={
        "userId": user, "exchange": exchange, "apiKey": key["api_key"], "apiSecret": key["secret"]})
    output.say(f"sandbox key {body.get('apiKeyMasked') or key['api_key'][:4] + '…'} saved for {user}: "
                  f"status {body.get('status')}, canTrade {body.get('canTrade')}"
                  + (f", error: {body.get('error')}" if body.get("error") else ""))


@app.command("sandbox")
def sandbox(port: int = typer.Option(18000), seed: int = typer.Option(1)) -> None:
    """Run the sandbox exchange on 127.0.0.1:PORT: binanceus at /, binance, kraken and coinbase
    under /<exchange>, each speaking that exchange's own API (docs/sandbox.md)."""
    import runpy
    import sys

    sys.argv = ["sandbox", "--port", str(port), "--seed", str(seed)]
    runpy.run_module("sandbox", run_name="__main__")


def main() -> None:
    """Run the CLI; the common mistakes are one line on stderr, never a traceback."""
    try:
        app()
    except ValidationError as exc:
        _die(config_cli.describe_validation(exc), USAGE)
    except ConfigFileError as exc:
        _die(str(exc), USAGE)
    except StackError as exc:
        _die(str(exc), FAILED)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        _die(f"Redis unreachable ({type(exc).__name__}: {exc}); is PIGGY_REDIS_URL right?", FAILED)


def _die(message: str, code: int) -> None:
    output.error(message)  # outside typer's run: its Exit would not be caught here
    if output.is_json():
        output.emit_json({"ok": False, "error": message, "exitCode": code})
    sys.exit(code)


if __name__ == "__main__":
    main()
