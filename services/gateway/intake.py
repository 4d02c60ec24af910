"""The gateway's order requests, a batch at a time: each order is decided on its own
(``orderflow.decide``, in arrival order) and settled in one MULTI: the client order id marker,
the outcome on ORDER_EVENTS (faststream's entry format, ``frame``) and the ack of its entry.
Either all three happen or none: a crash before leaves the entry pending (claimed later) and
the marker ``placing`` (a redelivery looks the order up at the exchange first). Behind Sentinel
the MULTI waits for a replica (``shared.durable``); an entry that may have been handled before
(claimed, or older than ``orderflow.MAYBE_SENT_AFTER_S``: re-read after a failover lost its
ack) has its order looked up at the exchange before anything is sent, even with no marker.

Bad entries are dead-lettered and acked first (``Bus.settle``). An order that raises
(another replica is placing it, Redis errors) is noted and left pending, the others go on; the
batch then raises so a claimed redelivery (a batch of one) is not acked by faststream.
"""
from __future__ import annotations

import logging
import time

from redis.asyncio.client import Pipeline

from shared import orderflow, streams
from shared.bus import Batch, Bus, failures_key, frame
from shared.cids import TTL_S
from shared.cids import key as marker_key
from shared.observe import observe_published

log = logging.getLogger("piggy.gateway.intake")


async def on_order_requests(bus: Bus, deps: orderflow.OrderDeps, batch: Batch) -> None:
    if batch.bad:
        await bus.settle(Batch(batch.stream, batch.group, [], batch.bad))
    failed: Exception | None = None
    for entry_id, request in batch.events:
        started = time.monotonic()
        try:
            settled = await orderflow.decide(request, deps, maybe_sent=orderflow.maybe_sent(
                entry_id, batch.deliveries, time.time()))
            await commit(bus, deps, batch, entry_id, settled)
            observe_published(bus.observer, streams.ORDER_EVENTS, settled.outcome,
                              handling=request, started=started)
        except Exception as exc:  # this order retries later; the rest of the batch goes on
            log.info("order request %s left pending: %s: %s", entry_id, type(exc).__name__,
                     str(exc)[:200])
            await bus.note_failure(batch, entry_id, exc)
            failed = failed or exc
    if failed is not None:
        raise failed


async def commit(bus: Bus, deps: orderflow.OrderDeps, batch: Batch, entry_id: str,
                 settled: orderflow.Settled) -> None:
    """Marker, outcome and ack: one round trip, all or nothing (and durable behind Sentinel)."""

    def queue(pipe: Pipeline) -> None:
        if settled.marker is not None:
            m = settled.marker
            pipe.set(marker_key(m.cid), deps.markers.value(m.state, m.order_id, m.refused),
                     ex=TTL_S)
        pipe.xadd(streams.ORDER_EVENTS, {"__data__": frame(settled.outcome)},
                  maxlen=streams.maxlen(streams.ORDER_EVENTS))
        pipe.xack(batch.stream, batch.group, entry_id)
        if batch.deliveries > 1:
            pipe.hdel(failures_key(batch.stream, batch.group), entry_id)

    await bus.durability.multi(bus.redis, queue, write=f"outcome {settled.outcome.intent_id}")
