"""Strategy bus handlers and the clock loop: thin, everything is decided in the runner's core."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from services.strategy.context import StrategyContext
from shared import streams
from shared.events import Ticker, TradeLogged

log = logging.getLogger("piggy.strategy")
GROUP = "strategy"
STOP_WAIT_S = 1.0  # the clock loop gets this long to finish its tick after the stop event


def register(ctx: StrategyContext) -> None:
    """Declare subscribers on ``ctx.bus`` (before the broker starts)."""

    @ctx.bus.consume(streams.TICKERS, GROUP, Ticker)
    async def on_ticker(ticker: Ticker) -> None:
        await ctx.runner.on_ticker(ticker)

    @ctx.bus.consume(streams.TRADES, GROUP, dict[str, Any])
    async def on_trade(body: dict[str, Any]) -> None:
        if body.get("type") == "TradeLogged":  # the trade log may carry other lines one day
            await ctx.runner.on_trade(TradeLogged.model_validate(body))


async def start(ctx: StrategyContext) -> None:
    await ctx.runner.start()
    ctx.loop_task = asyncio.create_task(_clock_loop(ctx), name="strategy-clock")


async def stop(ctx: StrategyContext) -> None:
    """The loop ends on the stop event after its current tick; cancelled if that takes long."""
    ctx.stopping.set()
    if ctx.loop_task is not None:
        _done, pending = await asyncio.wait([ctx.loop_task], timeout=STOP_WAIT_S)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    await ctx.streams_redis.aclose()


async def _clock_loop(ctx: StrategyContext) -> None:
    interval = ctx.settings.tick_interval_s
    while not ctx.stopping.is_set():
        try:
            await ctx.runner.tick()
        except Exception:  # the loop must survive anything one round throws
            log.exception("strategy clock tick failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.stopping.wait(), interval)
