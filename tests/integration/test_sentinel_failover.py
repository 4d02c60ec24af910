"""Redis Sentinel with real redis-server and redis-sentinel processes on loopback: every kind of
client follows the primary through a failover, the services' ACL users work on both tiers,
and a durable write waits for the replica (or, for a marker, is not made without one)."""
from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import redis
import redis.asyncio as aredis

from piggy.ha_redis import MASTER
from shared import redis_conn, streams
from shared.bus import Bus, decode_entry
from shared.cids import CidMarkers
from shared.cids import key as marker_key
from shared.durable import UNREPLICATED, Durability, NotReplicated
from shared.events import OrderIntent
from tests.support.ha_redis import ha_cluster

pytestmark = pytest.mark.integration


async def _write_until_ok(client: aredis.Redis, key: str, value: str, tries: int = 200) -> None:
    for _ in range(tries):
        try:
            await client.set(key, value)
            return
        except (aredis.ConnectionError, aredis.TimeoutError, aredis.ReadOnlyError):
            await asyncio.sleep(0.1)
    raise AssertionError("no write reached a primary")


def test_clients_follow_the_primary_through_failovers_with_the_services_own_users(
        tmp_path: Path) -> None:
    with ha_cluster(tmp_path) as ha:
        async def run() -> None:
            gw = redis_conn.async_client(ha.url("operator"), decode_responses=True)
            bus = Bus(ha.url("gateway"), "gateway", "gw-test")
            assert bus.durability.replicas == 1  # behind Sentinel durable writes wait
            await bus.broker.connect()
            try:
                intent = OrderIntent(user_id="u", symbol="BTC/USDT", amount_usd="2")
                await bus.publish_durable(intent, streams.INTENTS)
                before = ha.primary_port()
                # the operator asks a sentinel for a failover (what `piggy redis failover` does)
                with redis_conn.sync_client(ha.url()) as _op, redis.Redis(
                        host="127.0.0.1", port=ha.ports.sentinels[0], username="operator",
                        password=ha.passwords["operator"]) as sentinel:
                    sentinel.execute_command("SENTINEL", "FAILOVER", MASTER)
                took = ha.wait_primary_change(before)
                assert took > 0
                ha.ha.demote(before)  # what `piggy redis failover` does next
                await bus.publish_durable(intent.model_copy(update={"source": "after"}),
                                          streams.INTENTS)
                await bus.broker.publish({"x": 1}, stream=streams.INTENTS)  # faststream's own
                await _write_until_ok(gw, "piggy:probe", "1")
                assert await gw.xlen(streams.INTENTS) == 3  # the first survived the failover
                with redis_conn.sync_client(ha.url()) as sync:
                    assert sync.xlen(streams.INTENTS) == 3
                    role = sync.execute_command("ROLE")[0]
                    assert (role.decode() if isinstance(role, bytes) else role) == "master"
            finally:
                await bus.broker.stop()
                await bus.redis.aclose()
                await gw.aclose()

        asyncio.run(run())


def test_a_service_user_may_only_ask_the_sentinels_where_the_primary_is(tmp_path: Path) -> None:
    with ha_cluster(tmp_path) as ha:
        target = redis_conn.parse_sentinel(ha.url("executor"))
        with redis.Redis(host="127.0.0.1", port=ha.ports.sentinels[1],
                         **target.sentinel_kwargs()) as sentinel:
            assert sentinel.sentinel_get_master_addr_by_name(MASTER)[1] == ha.primary_port()
            with pytest.raises(redis.exceptions.NoPermissionError):
                sentinel.execute_command("SENTINEL", "FAILOVER", MASTER)
        with pytest.raises(redis.AuthenticationError):  # the default user is off everywhere
            redis.Redis(host="127.0.0.1", port=ha.ports.sentinels[0]).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=ha.primary_port(), password="wrong").ping()


def test_a_marker_is_not_claimed_without_a_replica_and_other_writes_go_on(
        tmp_path: Path) -> None:
    with ha_cluster(tmp_path) as ha:
        replica = next(c for c in ha.children[:2] if c.port != ha.primary_port())
        assert replica.proc is not None

        async def run() -> None:
            client = redis_conn.async_client(ha.url("gateway"), decode_responses=True)
            durability = Durability(1, 300)
            markers = CidMarkers(client, "gw-a", stale_after_s=10, durability=durability)
            try:
                admitted = await markers.admit("cid-1", "piggy:price:none")
                assert admitted.mine and admitted.seen is None  # the replica acknowledged it
                replica.proc.send_signal(signal.SIGSTOP)  # the replica stops answering
                try:
                    with pytest.raises(NotReplicated, match="0 of 1 replica"):
                        await markers.admit("cid-2", "piggy:price:none")
                    assert await client.get(marker_key("cid-2")) is None  # dropped: never sent
                    before = sum(UNREPLICATED.values())
                    await durability.multi(client, lambda p: p.set(marker_key("cid-3"), "1"),
                                           write="marker cid-3")
                    assert sum(UNREPLICATED.values()) == before + 1
                    assert await client.get(marker_key("cid-3")) == "1"  # on the primary alone
                finally:
                    replica.proc.send_signal(signal.SIGCONT)
            finally:
                await client.aclose()

        asyncio.run(run())


def test_the_primary_killed_mid_writes_loses_no_acknowledged_durable_write(
        tmp_path: Path) -> None:
    """200 intents published durably while the primary is SIGKILLed (and restarted, as the
    supervisor would: it rejoins as a replica): every one that publish_durable returned for is
    in the stream the new primary serves."""
    with ha_cluster(tmp_path) as ha:
        async def run() -> tuple[list[str], list[str], float]:
            bus = Bus(ha.url("gateway"), "gateway", "gw-test")
            acknowledged: list[str] = []
            failover_s = 0.0
            try:
                for i in range(200):
                    if i == 60:
                        victim, port = ha.kill_primary()
                        failover_s = await asyncio.to_thread(ha.wait_primary_change, port)
                        victim.start()  # as the supervisor does: it rejoins as a replica
                    intent = OrderIntent(user_id="u", symbol="BTC/USDT", amount_usd="2")
                    for _ in range(100):
                        try:
                            await bus.publish_durable(intent, streams.INTENTS)
                            acknowledged.append(intent.intent_id)
                            break
                        except (aredis.ConnectionError, aredis.TimeoutError, OSError,
                                NotReplicated):  # no replica yet: the same intent again
                            await asyncio.sleep(0.1)
                raw = redis_conn.async_client(ha.url())
                seen = [decode_entry(f)["intent_id"] for _, f in await raw.xrange(streams.INTENTS)]
                await raw.aclose()
                return acknowledged, seen, failover_s
            finally:
                await bus.redis.aclose()

        acknowledged, seen, failover_s = asyncio.run(run())
        print(f"failover after SIGKILL: {failover_s:.2f}s")
        assert len(acknowledged) == 200
        assert set(acknowledged) <= set(seen)

