"""Arming, disarming and the live status, answered over the bus; auto-disarm watchdog."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

from services.executor import gates
from services.executor.context import ExecutorContext
from services.executor.gates import Gate
from services.executor.handlers import log_note
from services.executor.snapshot import gate_inputs
from shared import state, streams
from shared.events import (
    ArmLive,
    CredentialsRejected,
    CredentialsRevoked,
    CredentialsSubmitted,
    DisarmLive,
    GateView,
    LiveArmed,
    LiveDisarmed,
    LiveStatus,
    QueryLive,
)
from shared.redis_text import as_str
from shared.state import ARMED, armed_field, parse_armed_field

log = logging.getLogger("piggy.executor.live")

# A bus request that timed out still runs later; an arm that old must not take effect.
ARM_COMMAND_TTL_S = 30.0


def _status(cmd: ArmLive | DisarmLive | QueryLive, armed: bool,
            results: list[gates.GateResult], ok: bool, message: str) -> LiveStatus:
    return LiveStatus(user_id=cmd.user_id, exchange=cmd.exchange, armed=armed, ok=ok,
                      message=message, gates=[GateView(**r.as_dict()) for r in results],
                      closed=[f"{r.gate.value}: {r.reason}" for r in results if not r.open])


def _token_ok(ctx: ExecutorContext, given_sha256: str) -> bool:
    expected = ctx.settings.live_confirm_token
    if expected is None:
        return True
    digest = hashlib.sha256(expected.get_secret_value().encode()).hexdigest()
    return hmac.compare_digest(digest, given_sha256)


async def on_command(ctx: ExecutorContext, cmd: ArmLive | DisarmLive | QueryLive) -> LiveStatus:
    """Arm, disarm or report one (user, exchange): arming on one exchange arms nothing else."""
    if isinstance(cmd, DisarmLive):
        for exchange in await _armed_exchanges(ctx, cmd.user_id) if cmd.everywhere \
                else [cmd.exchange]:
            await disarm(ctx, cmd.user_id, exchange, cmd.reason)
        results = gates.evaluate(await gate_inputs(ctx, cmd.user_id, cmd.exchange),
                                 include_amount=False)
        where = "every exchange" if cmd.everywhere else cmd.exchange
        return _status(cmd, False, results, True, f"live trading disarmed on {where}")
    results = gates.evaluate(await gate_inputs(ctx, cmd.user_id, cmd.exchange), include_amount=False)
    armed = next(r.open for r in results if r.gate is Gate.ARMED)
    if isinstance(cmd, QueryLive):
        return _status(cmd, armed, results, True,
                       f"armed on {cmd.exchange}" if armed else f"not armed on {cmd.exchange}")
    ignore = {Gate.ARMED} | ({Gate.GATEWAY_HEARTBEAT} if ctx.direct is not None else set())
    blocking = gates.closed(results, ignore=frozenset(ignore))
    if ctx.clock() - cmd.ts.timestamp() > ARM_COMMAND_TTL_S:
        return _status(cmd, armed, results, False,
                       "arm request expired before the executor got it; ask again")
    if not _token_ok(ctx, cmd.confirm_token_sha256):
        return _status(cmd, armed, results, False,
                       "confirm token missing or wrong (LIVE_CONFIRM_TOKEN is set)")
    if blocking:
        return _status(cmd, armed, results, False,
                       f"cannot arm: {len(blocking)} gate(s) closed: "
                       + "; ".join(f"{r.gate.value}: {r.reason}" for r in blocking))
    await ctx.bus.redis.hset(ARMED, armed_field(cmd.user_id, cmd.exchange), str(ctx.clock()))
    await ctx.bus.publish(LiveArmed(user_id=cmd.user_id, exchange=cmd.exchange), streams.CONTROL)
    results = gates.evaluate(await gate_inputs(ctx, cmd.user_id, cmd.exchange), include_amount=False)
    return _status(cmd, True, results, True, f"LIVE trading armed on {cmd.exchange}")


async def _armed_exchanges(ctx: ExecutorContext, user_id: str) -> list[str]:
    fields = [parse_armed_field(as_str(f)) for f in await ctx.bus.redis.hkeys(ARMED)]
    return [p[1] for p in fields if p is not None and p[0] == user_id]


async def disarm(ctx: ExecutorContext, user_id: str, exchange: str, reason: str) -> bool:
    """Disarm one (user, exchange); the event and the trade-log line come once, from whoever
    removed it."""
    if not await ctx.bus.redis.hdel(ARMED, armed_field(user_id, exchange)):
        return False
    await ctx.bus.publish(LiveDisarmed(user_id=user_id, exchange=exchange, reason=reason),
                          streams.CONTROL)
    await log_note(ctx, user_id, "disarmed", f"{exchange}: {reason}")
    log.warning("live disarmed for %s on %s: %s", user_id, exchange, reason)
    return True


async def migrate_armed(ctx: ExecutorContext) -> int:
    """Fields from before arming was per exchange (a bare user id, armed on every exchange)
    are removed at start: that user must arm again, per exchange. Disarming is the safe side."""
    removed = 0
    for raw in await ctx.bus.redis.hkeys(ARMED):
        field = as_str(raw)
        if parse_armed_field(field) is None and await ctx.bus.redis.hdel(ARMED, field):
            removed += 1
            reason = ("live arming is per exchange now: arm again with `piggy live arm "
                      "--exchange <exchange>`")
            await ctx.bus.publish(LiveDisarmed(user_id=field, reason=reason), streams.CONTROL)
            await log_note(ctx, field, "disarmed", reason)
            log.warning("live disarmed for %s: %s", field, reason)
    return removed


async def on_credentials(ctx: ExecutorContext, event: object) -> None:
    """Keys replaced, refused or revoked on one exchange: the user is disarmed there (once the
    new keys validate, live needs arming again there), and the trade log says why. Keys on
    other exchanges, and a re-submitted key identical to the validated one (the gateway
    publishes nothing for it), change nothing."""
    if isinstance(event, CredentialsRevoked):
        await disarm(ctx, event.user_id, event.exchange, f"credentials revoked: {event.reason}")
    elif isinstance(event, CredentialsRejected):
        await disarm(ctx, event.user_id, event.exchange, f"credentials rejected: {event.reason}")
    elif isinstance(event, CredentialsSubmitted):
        await disarm(ctx, event.user_id, event.exchange, "credentials replaced: new keys must "
                     "be validated and live armed again")


async def watch_heartbeat(ctx: ExecutorContext, every_s: float = 0.5) -> None:
    """Disarm everyone while the gateway heartbeat is stale (unless a direct path exists)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if ctx.direct is not None or not await ctx.bus.redis.hlen(ARMED):
                continue
            beat = await state.freshest_heartbeat(ctx.bus.redis)
            age = None if beat is None else ctx.clock() - beat
            limit = ctx.settings.heartbeat_max_age_s
            if age is None or age > limit:
                why = ("gateway heartbeat lost" if age is None
                       else f"gateway heartbeat is {age:.1f}s old (limit {limit:g}s)")
                for raw in await ctx.bus.redis.hkeys(ARMED):
                    found = parse_armed_field(as_str(raw))
                    if found is not None:
                        await disarm(ctx, found[0], found[1], why)
        except Exception:
            log.exception("heartbeat watchdog failed; retrying")
