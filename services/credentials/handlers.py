"""Thin handlers: decode → vault → exchange check (the port) → pure decision → persist → publish."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.credentials import store
from services.credentials.checker import Checker
from services.credentials.validation import (
    Decision,
    Reason,
    Recheck,
    recheck_action,
    rejected,
    revoke_reason,
    revoked_fields,
    should_recheck,
    status_fields,
)
from shared import state, streams
from shared.bus import Bus
from shared.events import (
    CredentialsEvent,
    CredentialsRejected,
    CredentialsRevoked,
    CredentialsSubmitted,
    CredentialsValidated,
    new_id,
)
from shared.settings import CredentialsSettings
from shared.vault import Vault, VaultError

log = logging.getLogger("piggy.credentials")

GROUP = "credentials"


@dataclass
class CredentialsContext:
    bus: Bus
    vault: Vault
    settings: CredentialsSettings
    check: Checker
    clock: Callable[[], datetime]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def register(ctx: CredentialsContext) -> None:
    @ctx.bus.consume(streams.CREDENTIALS, GROUP, CredentialsEvent)
    async def on_credentials_event(event: CredentialsEvent) -> None:
        if isinstance(event, CredentialsSubmitted):
            await handle_submitted(ctx, event)


async def _decide(ctx: CredentialsContext, ref: str, exchange: str) -> Decision | None:
    try:
        pair = await ctx.vault.get(ref)
    except VaultError as exc:
        if "no vault entry" in str(exc):
            return None
        return rejected(Reason.VAULT_UNREADABLE)
    return await ctx.check(exchange, pair)


async def handle_submitted(ctx: CredentialsContext, event: CredentialsSubmitted) -> None:
    decision = await _decide(ctx, event.vault_ref, event.exchange)
    if decision is None:
        log.info("credentials for user %s on %s were deleted before validation; nothing to do",
                 event.user_id, event.exchange)
        return
    await publish_outcome(ctx, event.user_id, event.exchange, decision, event.correlation_id)


async def publish_outcome(ctx: CredentialsContext, user_id: str, exchange: str,
                          decision: Decision, correlation_id: str) -> bool:
    fields = status_fields(decision, checked_at=ctx.clock().isoformat())
    if not await store.set_status_if(ctx.bus.redis, user_id, exchange, correlation_id, fields):
        log.info("outcome for user %s on %s superseded by a newer change; dropped",
                 user_id, exchange)
        return False
    if decision.accepted:
        if decision.warning:
            log.warning("user %s on %s: %s", user_id, exchange, decision.warning)
        log.info("credentials validated: user %s on %s (can_withdraw=%s)", user_id, exchange,
                 decision.can_withdraw)
        await ctx.bus.publish(CredentialsValidated(
            user_id=user_id, exchange=exchange, can_trade=decision.can_trade,
            can_withdraw=decision.can_withdraw, warning=decision.warning,
            correlation_id=correlation_id), streams.CREDENTIALS)
    else:
        log.info("credentials rejected: user %s on %s: %s", user_id, exchange, decision.reason_code)
        await ctx.bus.publish(CredentialsRejected(
            user_id=user_id, exchange=exchange, reason_code=decision.reason_code.value,
            reason=decision.reason, correlation_id=correlation_id), streams.CREDENTIALS)
    return True


# ---- periodic re-validation -----------------------------------------------------------------


async def revalidate_one(ctx: CredentialsContext, ref: str) -> Recheck:
    parsed = store.parse_vault_ref(ref)
    if parsed is None:
        return Recheck.SKIP
    user_id, exchange = parsed
    current = await state.credential_status(ctx.bus.redis, user_id, exchange)
    if not should_recheck(current):
        return Recheck.SKIP
    correlation_id = current.get("correlation_id", "")
    decision = await _decide(ctx, ref, exchange)
    if decision is None:
        return Recheck.SKIP
    action = recheck_action(current, decision)
    now = ctx.clock().isoformat()
    redis = ctx.bus.redis
    if action is Recheck.REFRESH:
        await store.set_status_if(redis, user_id, exchange, correlation_id,
                                  status_fields(decision, checked_at=now))
    elif action is Recheck.NOTE:
        await store.set_status_if(redis, user_id, exchange, correlation_id,
                                  {"last_check": decision.reason_code.value, "last_check_at": now})
    elif action in (Recheck.VALIDATE, Recheck.REJECT):
        await publish_outcome(ctx, user_id, exchange, decision, correlation_id)
    elif action is Recheck.REVOKE:
        reason = revoke_reason(decision)
        if await store.set_status_if(redis, user_id, exchange, correlation_id,
                                     revoked_fields(reason, checked_at=now)):
            log.warning("credentials revoked: user %s on %s: %s", user_id, exchange, reason)
            await ctx.bus.publish(CredentialsRevoked(
                user_id=user_id, exchange=exchange, reason=reason,
                correlation_id=correlation_id or new_id()), streams.CREDENTIALS)
    return action


async def revalidate_all(ctx: CredentialsContext) -> dict[str, Recheck]:
    results: dict[str, Recheck] = {}
    async for ref in store.vault_refs(ctx.bus.redis):
        try:
            results[ref] = await revalidate_one(ctx, ref)
        except Exception:  # one bad entry must not stop the round
            log.exception("re-validation of %s failed", ref)
    return results


async def revalidation_loop(ctx: CredentialsContext) -> None:
    interval = ctx.settings.revalidate_interval_s
    ttl_ms = int(interval * 1000 * 0.9)
    while True:
        await asyncio.sleep(interval)
        try:
            if await store.take_round(ctx.bus.redis, ctx.bus.consumer, ttl_ms):
                await revalidate_all(ctx)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("re-validation round failed; next round in %.1fs", interval)


async def start(ctx: CredentialsContext) -> None:
    ctx.tasks.append(asyncio.create_task(revalidation_loop(ctx), name="credentials-revalidate"))


async def stop(ctx: CredentialsContext) -> None:
    for task in ctx.tasks:
        task.cancel()
    for result in await asyncio.gather(*ctx.tasks, return_exceptions=True):
        if isinstance(result, Exception) and not isinstance(result, asyncio.CancelledError):
            log.warning("background task ended with %s", type(result).__name__)
    ctx.tasks.clear()
