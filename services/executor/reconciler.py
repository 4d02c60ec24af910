"""The reconciler: no routed intent is left without an outcome.

Every routed intent has a deadline in the ledger's in-flight set (``PIGGY_OUTCOME_TIMEOUT_S``
after routing; sooner after a "status unknown" answer). Past it, the intent gets a lookup:
its order request is published again with the same client order id — the gateway looks a
client order id it has seen up at the exchange before anything else, so this never sends a
second order blind; one it has never seen (the request was trimmed or dead-lettered before
any gateway read it) is placed then, behind every gateway check. After
``PIGGY_RECONCILE_ROUNDS`` lookups without an answer the intent is logged ``unknown`` with
the reason and an ALERT line, its reservation kept (the money may be spent).
"""
from __future__ import annotations

import asyncio
import logging

from services.executor.context import ExecutorContext
from services.executor.handlers import _commit, _finish, line, on_order_events, order_request
from services.executor.ledger import Writes
from services.executor.lifecycle import IntentStatus
from shared import streams
from shared.bus import Batch
from shared.events import Mode, OrderIntent, TradeStatus

log = logging.getLogger("piggy.executor.reconciler")
EVERY_S = 0.25


async def run(ctx: ExecutorContext, every_s: float = EVERY_S) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await reconcile_once(ctx)
        except Exception:  # the loop must survive anything one round throws (Redis restart...)
            log.exception("reconciliation round failed; retrying")


async def reconcile_once(ctx: ExecutorContext) -> int:
    """One pass over the overdue routed intents (a single Redis call when there are none);
    returns how many were handled."""
    s = ctx.settings
    now = ctx.clock()
    due = await ctx.ledger.rounds(now, now + s.outcome_timeout_s, s.reconcile_rounds)
    if not due:
        return 0
    w = Writes()
    direct: list[OrderIntent] = []
    for r in due:
        intent = OrderIntent.model_validate_json(r.intent_json)
        if r.exhausted:
            lookups = r.rounds - 1
            why = (f"no outcome after {lookups} lookup(s) of client order id "
                   f"{order_request(ctx, intent).client_order_id}"
                   + (f" (last answer: {r.last_error})" if r.last_error else "")
                   + "; check the exchange before retrying")
            log.error("ALERT intent %s of %s: order status unknown: %s", intent.intent_id,
                      intent.user_id, why)
            await _finish(ctx, w, IntentStatus.UNKNOWN, line(
                intent, Mode.LIVE, TradeStatus.UNKNOWN,
                client_order_id=order_request(ctx, intent).client_order_id, reasons=[why],
                route=r.routed or "gateway"))
            ctx.routed.pop(intent.intent_id, None)
            continue
        log.warning("intent %s has no outcome yet; lookup %d of %d through the %s",
                    intent.intent_id, r.rounds, s.reconcile_rounds,
                    "direct path" if r.routed == "direct" and ctx.direct else "gateway")
        if r.routed == "direct" and ctx.direct is not None:
            direct.append(intent)
        else:
            w.xadd(streams.ORDER_REQUESTS, order_request(ctx, intent))
    await _commit(ctx, w)
    for intent in direct:
        outcome = await ctx.direct.place(order_request(ctx, intent))
        await on_order_events(ctx, Batch(streams.ORDER_EVENTS, "", [("", outcome)]))
    return len(due)
