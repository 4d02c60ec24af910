"""Stream names, consumer groups and caps: the bus topology in one table."""
from __future__ import annotations

from dataclasses import dataclass

INTENTS = "piggy:intents"
DECISIONS = "piggy:intents:decisions"
ORDER_REQUESTS = "piggy:orders:requested"
ORDER_EVENTS = "piggy:orders:events"
TRADES = "piggy:trades"
TICKERS = "piggy:tickers"
HEALTH = "piggy:health"
CREDENTIALS = "piggy:credentials"
CONTROL = "piggy:control"
DEAD_LETTER = "piggy:deadletter"
COMMANDS = "piggy:commands:executor"
BALANCES = "piggy:commands:balances"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    maxlen: int


STREAMS: dict[str, StreamSpec] = {
    s.name: s
    for s in (
        StreamSpec(INTENTS, 100_000),
        StreamSpec(DECISIONS, 100_000),
        StreamSpec(ORDER_REQUESTS, 100_000),
        StreamSpec(ORDER_EVENTS, 100_000),
        StreamSpec(TRADES, 1_000_000),
        StreamSpec(TICKERS, 10_000),
        StreamSpec(HEALTH, 10_000),
        StreamSpec(CREDENTIALS, 100_000),
        StreamSpec(CONTROL, 10_000),
        StreamSpec(DEAD_LETTER, 100_000),
        StreamSpec(COMMANDS, 10_000),
        StreamSpec(BALANCES, 10_000),
    )
}


def maxlen(stream: str) -> int:
    return STREAMS[stream].maxlen if stream in STREAMS else 100_000
