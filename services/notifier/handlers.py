"""Notifier handlers: event → ``core.alert_for`` → limiter → send (apprise). Thin.

A message that cannot be delivered is logged (without the URL, which holds a token) and
dropped: the notifier never raises back into the bus, so no stream waits on a chat service.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.notifier import core
from services.notifier.core import Alert, DeadLetterWatch, Limiter, Verdict
from shared import streams
from shared.bus import Bus
from shared.events import ControlEvent, CredentialsEvent, DeadLetter, TradeLogged
from shared.settings import NotifierSettings

log = logging.getLogger("piggy.notifier")
GROUP = "notifier"


class Sender(Protocol):
    configured: bool

    async def send(self, alert: Alert) -> bool: ...


@dataclass
class NotifierContext:
    bus: Bus
    settings: NotifierSettings
    sender: Sender
    limiter: Limiter
    watch: DeadLetterWatch
    clock: Callable[[], float] = time.time
    extras: dict[str, Any] = field(default_factory=dict)


def register(ctx: NotifierContext) -> None:
    async def on_trade(event: TradeLogged) -> None:
        await deliver(ctx, core.alert_for(event), event.ts.timestamp())

    async def on_control(event: Any) -> None:
        await deliver(ctx, core.alert_for(event), event.ts.timestamp())

    async def on_credentials(event: Any) -> None:
        await deliver(ctx, core.alert_for(event), event.ts.timestamp())

    async def on_dead_letter(letter: DeadLetter) -> None:
        if ctx.clock() - letter.ts.timestamp() <= ctx.settings.alert_max_age_s:
            await deliver(ctx, ctx.watch.note(letter, ctx.clock()), None)

    # Its own group on the streams only it consumes; the trade log and credentials it only
    # follows (XREAD, no group), so it can't read or ack another service's group there.
    for stream, schema, handler in ((streams.CONTROL, ControlEvent, on_control),
                                    (streams.DEAD_LETTER, DeadLetter, on_dead_letter)):
        ctx.bus.consume(stream, GROUP, schema)(handler)
    ctx.bus.follow(streams.TRADES, TradeLogged)(on_trade)
    ctx.bus.follow(streams.CREDENTIALS, CredentialsEvent)(on_credentials)


async def deliver(ctx: NotifierContext, alert: Alert | None, event_ts: float | None) -> None:
    if alert is None:
        return
    counter = ctx.bus.observer.metrics.alerts
    verdict = ctx.limiter.admit(alert, ctx.clock(), event_ts)
    if verdict is not Verdict.SEND:
        counter.labels(alert.kind, verdict.value).inc()
        log.info("alert %s not sent: %s", alert.kind, verdict.value)
        return
    alert = core.with_suppressed(alert, ctx.limiter.take_suppressed())
    alert = Alert(alert.kind, core.scrub(alert.title), core.scrub(alert.body), alert.level,
                  alert.key)
    if not ctx.sender.configured:
        counter.labels(alert.kind, "logged").inc()
        log.warning("ALERT %s: %s (PIGGY_ALERT_URLS is not set: logged only)", alert.title,
                    alert.body)
        return
    try:
        ok = await asyncio.wait_for(ctx.sender.send(alert), ctx.settings.alert_send_timeout_s)
    except Exception as exc:  # noqa: BLE001 - a failed send is logged, never retried by the bus
        ok = False
        log.warning("alert %s not delivered: %s", alert.kind, type(exc).__name__)
    counter.labels(alert.kind, "sent" if ok else "failed").inc()
    if ok:
        log.info("alert %s sent: %s", alert.kind, alert.title)
    else:
        log.warning("alert %s not delivered to every URL: %s: %s", alert.kind, alert.title,
                    alert.body)


async def start(ctx: NotifierContext) -> None:
    log.info("notifier: %s", "sending alerts" if ctx.sender.configured
             else "PIGGY_ALERT_URLS not set: alerts are logged here only")


async def stop(ctx: NotifierContext) -> None:
    return None
