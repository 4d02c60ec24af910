"""Reading the trade log: the TradeLogged events on the trades stream, newest first.

A line that does not match the schema (written by hand, by an older version, or damaged) is
skipped and counted, and reported once per process in the log: one poison line must not make
the whole log unreadable.
"""
from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aredis
from pydantic import ValidationError
from redis.client import NEVER_DECODE

from shared import streams
from shared.bus import decode_entry
from shared.events import Mode, TradeLogged

log = logging.getLogger("piggy.tradelog")
REPORTED_MAX = 10_000
_reported: set[str] = set()


async def read(redis: aredis.Redis, *, user_id: str | None = None, intent_id: str | None = None,
               limit: int = 100, scan: int = 10_000,
               skipped: list[str] | None = None) -> list[TradeLogged]:
    """Newest-first trade log lines, filtered; reads at most ``scan`` entries back. The ids of
    invalid lines it passed over are appended to ``skipped`` when given."""
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
            line = _valid(entry_id, body)
            if line is None:
                if skipped is not None:
                    skipped.append(_text(entry_id))
                continue
            out.append(line)
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


def _valid(entry_id: Any, body: dict[str, Any]) -> TradeLogged | None:
    try:
        return TradeLogged.model_validate(body)
    except ValidationError as exc:
        eid = _text(entry_id)
        if eid not in _reported and len(_reported) < REPORTED_MAX:
            _reported.add(eid)
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            log.warning("trade log entry %s skipped: invalid (%s: %s; %d error(s))", eid, where,
                        first["msg"], exc.error_count())
        return None


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


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
