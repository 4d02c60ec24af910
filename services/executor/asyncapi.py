"""The executor's AsyncAPI document: ``faststream docs gen services.executor.asyncapi:app``.

Builds the same handler table as the running service, on a broker that never connects, so the
document is generated from the code. Nothing here reads the environment.
"""
from __future__ import annotations

from faststream import FastStream

from services.executor.app import register
from services.executor.context import ExecutorContext
from services.executor.ledger import Ledger
from shared.bus import Bus
from shared.settings import ExecutorSettings


def build() -> FastStream:
    bus = Bus("redis://127.0.0.1:6379/0", "executor", "docs")
    register(ExecutorContext(bus=bus, ledger=Ledger(bus.redis), settings=ExecutorSettings()))
    return FastStream(bus.broker)


app = build()
