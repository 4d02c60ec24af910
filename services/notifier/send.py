"""Delivery through apprise: one ``Apprise`` object holding every ``PIGGY_ALERT_URLS`` entry."""
from __future__ import annotations

import logging
import re

import apprise
from pydantic import SecretStr

from services.notifier.core import Alert


def split_urls(urls: SecretStr | None) -> list[str]:
    return [u for u in re.split(r"[\s,]+", urls.get_secret_value()) if u] if urls else []


class AppriseSender:
    def __init__(self, urls: SecretStr | None) -> None:
        # apprise logs failing URLs, and a URL holds a bot token or a password: keep it quiet.
        logging.getLogger("apprise").setLevel(logging.CRITICAL)
        self.apprise = apprise.Apprise()
        for n, url in enumerate(split_urls(urls), 1):
            if not self.apprise.add(url):
                scheme = url.split("://", 1)[0] if "://" in url else "?"
                raise ValueError(f"PIGGY_ALERT_URLS entry {n} ({scheme}://…) is not a "
                                 "notification URL apprise understands")
        self.configured = len(self.apprise) > 0

    async def send(self, alert: Alert) -> bool:
        return bool(await self.apprise.async_notify(body=alert.body, title=alert.title,
                                                    notify_type=alert.level.value))
