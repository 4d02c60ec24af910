"""The notifier against a real Redis: an unreachable alert URL never holds up a stream."""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from services.notifier.app import bootstrap, create_app
from shared import streams
from shared.events import KillSwitchEngaged, LiveArmed
from shared.settings import NotifierSettings
from tests.support.inprocess import client_bus
from tests.support.observability import Receiver

pytestmark = pytest.mark.integration


async def _until(check: Callable[[], object], timeout: float = 15) -> None:
    async def poll() -> None:
        while not await check():  # type: ignore[misc]
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


async def test_a_dead_webhook_is_counted_as_failed_and_the_entry_is_still_acked(
        redis_url: str, free_port: Callable[[], int]) -> None:
    dead = f"json://127.0.0.1:{free_port()}/nobody-listens"  # nothing bound there
    ctx = bootstrap(redis_url=redis_url, settings=NotifierSettings(alert_urls=SecretStr(dead),
                                                                   alert_send_timeout_s=5))
    app = create_app(lambda: ctx)
    alerts = ctx.bus.observer.metrics.alerts
    async with app.router.lifespan_context(app), client_bus(redis_url) as bus:
        await bus.publish(KillSwitchEngaged(by="test", reason="drill"), streams.CONTROL)

        async def failed() -> bool:
            return (alerts.labels("kill_engaged", "failed")._value.get() == 1
                    and (await bus.redis.xpending(streams.CONTROL, "notifier"))["pending"] == 0)

        await _until(failed)


async def test_a_redelivered_event_is_sent_once(redis_url: str) -> None:
    receiver = Receiver()
    with receiver.running():
        ctx = bootstrap(redis_url=redis_url,
                        settings=NotifierSettings(alert_urls=SecretStr(receiver.url)))
        app = create_app(lambda: ctx)
        async with app.router.lifespan_context(app), client_bus(redis_url) as bus:
            armed = LiveArmed(user_id="liz")
            await bus.publish(armed, streams.CONTROL)
            await bus.publish(armed, streams.CONTROL)  # the same event twice on the stream
            alerts = ctx.bus.observer.metrics.alerts

            async def both_seen() -> bool:
                return (alerts.labels("armed", "sent")._value.get()
                        + alerts.labels("armed", "duplicate")._value.get()) == 2

            await _until(both_seen)
    assert [m["title"] for m in receiver.got] == ["LIVE trading armed"]
