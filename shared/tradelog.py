"""Reading the trade log: the TradeLogged events on the trades stream, newest first."""
from __future__ import annotations

from typing import Any

import redis.asyncio as aredis
from redis.client import NEVER_DECODE

from shared import streams
from shared.bus import decode_entry
from shared.events import Mode, TradeLogged


async def read(redis: aredis.Redis, *, user_id: str | None = None, intent_id: str | None = None,
               limit: int = 100, scan: int = 10_000) -> list[TradeLogged]:
    """Newest-first trade log lines, filtered; reads at most ``scan`` entries back."""
    out: list[TradeLogged] = []
    last = "+"
    remaining = scan
    while remaining > 0 and len(out) < limit:
        batch = await xrevrange_raw(redis, streams.TRADES, last, min(500, remaining))
        if not batch:
            break
        for entry_id, fields in batch:
            body: Any = decode_entry(fields)
            if not isinstance(body, dict) or body.get("type") != "TradeLogged":
                continue
            if user_id and body.get("user_id") != user_id:
                continue
            if intent_id and body.get("intent_id") != intent_id:
                continue
            out.append(TradeLogged.model_validate(body))
            if len(out) >= limit:
                break
        remaining -= len(batch)
        last = "(" + (batch[-1][0].decode() if isinstance(batch[-1][0], bytes) else batch[-1][0])
    return out


async def xrevrange_raw(redis: aredis.Redis, stream: str, last: str, count: int) -> list[Any]:
    """XREVRANGE without decoding, so it works on clients with ``decode_responses=True``
    (faststream's entries are binary)."""
    return await redis.execute_command("XREVRANGE", stream, last, "-", "COUNT", count,
                                       **{NEVER_DECODE: True})


def _num(value: Any) -> str:
    return format(value.normalize(), "f") if value is not None else "-"


def _usd(value: Any) -> str:
    """Whole cents as cents ($5.10), finer amounts in full ($2.00104)."""
    exponent = value.normalize().as_tuple().exponent
    return f"{value:.2f}" if isinstance(exponent, int) and exponent >= -2 else _num(value)


def amounts(line: TradeLogged) -> str:
    """Requested amount, filled quantity, cost actually spent and fee, in one phrase:
    "asked $2, filled 0.00004 BTC for $2.0010, fee 0.00000004 BTC"."""
    asked = f"asked ${_usd(line.amount_usd)}"
    if line.mode is Mode.NONE or (not line.filled and not line.cost):
        return asked
    base = line.symbol.split("/")[0] if "/" in line.symbol else ""
    quote = line.symbol.split("/")[1].split(":")[0] if "/" in line.symbol else ""
    spent = f"${_usd(line.cost)}" if quote.upper().startswith("USD") else f"{_num(line.cost)} {quote}"
    fee = f", fee {_num(line.fee)} {line.fee_currency}".rstrip() if line.fee else ""
    return f"{asked}, filled {_num(line.filled)} {base} for {spent}{fee}"
