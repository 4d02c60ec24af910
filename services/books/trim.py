"""Where the trade stream may be trimmed: pure (values in, a stream id out).

Everything below the returned id is journaled and acknowledged by every consumer group of
the stream, and older than the tail kept for readers that look recent lines up by intent
(``POST /api/trade`` waiting for its outcome). ``XTRIM MINID`` then removes exactly what
is below it (exact: the cost is the entries removed).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GroupState:
    name: str
    last_delivered: str  # every entry up to here was delivered...
    pending: int
    oldest_pending: str | None  # ...and every one below the oldest pending was acked


def parse_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def acked_below(group: GroupState) -> str:
    """The first id this group may still need (all below it are acknowledged)."""
    if group.pending and group.oldest_pending:
        return group.oldest_pending
    return group.last_delivered


def boundary(groups: list[GroupState], journal_group: str, now_ms: int,
             keep_ms: int) -> str | None:
    """The MINID to trim to, or None (nothing may go: the journal's group is missing, or has
    journaled nothing yet)."""
    if not any(g.name == journal_group for g in groups):
        return None
    ids = [acked_below(g) for g in groups]
    ids.append(f"{max(0, now_ms - keep_ms)}-0")
    lowest = min(ids, key=parse_id)
    return None if parse_id(lowest) == (0, 0) else lowest


def journaled_below(groups: list[GroupState], journal_group: str) -> str | None:
    """The journal's watermark: every trade line below it is in SQL."""
    for g in groups:
        if g.name == journal_group:
            return acked_below(g)
    return None
