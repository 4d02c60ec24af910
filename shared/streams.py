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


# ---- who may touch what (Redis ACL users, one per service; shared/redis_acl.py) -------------
# Key families (glob patterns) next to the streams, so a new key is added in one place.
KEY_KILL = "piggy:kill"
KEY_HEARTBEATS = "piggy:heartbeats:*"
KEY_ARMED = "piggy:live:armed"
KEY_CREDSTATUS = "piggy:credstatus:*"
KEY_PRICES = "piggy:price:*"
KEY_VAULT = "piggy:vault:*"
KEY_VAULT_INDEX = "piggy:vaultindex"  # the vault's entries, listed without a SCAN
KEY_TOKENS = "piggy:tokens"
KEY_FAILURES = "piggy:failures:*"  # the bus's per-entry failure notes
KEY_GATEWAY = "piggy:gw:*"  # client order id markers
KEY_RATE = "piggy:rate:*"  # the shared exchange rate budget and kraken nonces (exchanges/budget)
KEY_EXECUTOR = ("piggy:ledger:*", "piggy:spend:*", "piggy:executor:*")
KEY_CREDENTIALS = "piggy:credentials:*"  # the re-validation round lock
KEY_STRATEGY = ("piggy:strategies", "piggy:strategy:*")
KEY_LEDGER = "piggy:ledger:*"  # the executor's per-intent keys (the books shorten their TTL)
KEY_OUTCOMES = "piggy:outcome:*"  # one intent's outcome, what a caller waits on (shared/outcomes)


# What every service reads for its /metrics at scrape time (shared/metrics.py).
METRICS_READS = (KEY_KILL, KEY_ARMED)


# ---- which commands each kind of access means (the ACL rules are built from these, and
# tests/integration/test_redis_acl_sweep.py checks every command of the server against them) ---
# Without a key, every service: log in, keep its connection, transactions, the script cache,
# and WAIT (behind Sentinel a durable write waits for a replica: shared/durable.py).
# (Redis lets anyone run AUTH and HELLO; CLIENT TRACKING, which HELLO 3 would need to watch
# keys change, is not here.)
CONNECTION = ("auth", "hello", "ping", "echo", "select", "quit", "reset", "client|setname",
              "client|getname", "client|id", "client|info", "multi", "exec", "discard",
              "script|load", "wait", "time")  # WAIT: durable writes; TIME: the rate budget's clock
# Request/reply over pub/sub (the gateway's and the executor's bus replies); channels, no key.
REPLIES = ("publish", "subscribe", "unsubscribe", "psubscribe", "punsubscribe")
# A consumer group's commands on a stream it consumes (group names can't be scoped by Redis
# ACLs: the group each service uses is its own name, see GROUP_CONSUMERS below).
CONSUME = ("xreadgroup", "xack", "xautoclaim", "xclaim", "xpending", "xgroup|create",
           "xinfo|stream", "xinfo|groups", "xlen")
PUBLISH = ("xadd",)
FOLLOW = ("xread", "xrange", "xrevrange", "xlen")  # reading a stream without a group
AWAIT = ("xread",)  # waiting for one intent's outcome: XREAD BLOCK on its key, nothing else
# On a key family: Redis's own categories (each command's categories come from the server),
# minus NEVER: keyless ones (SCAN, RANDOMKEY, DBSIZE, FUNCTION... see or touch every key) and
# PFMERGE, whose lone destination Redis 7.0's ACL does not see as a key (it would create any key).
NEVER = ("scan", "randomkey", "keys", "dbsize", "function", "fcall", "fcall_ro", "lolwut",
         "pfmerge")
KEY_WRITE = ("+@read", "+@write", "-@dangerous", *(f"-{c}" for c in NEVER))
KEY_READ = ("+@read", "-@dangerous", *(f"-{c}" for c in NEVER))
SCRIPTS = ("eval", "evalsha")  # on the keys of its families (each call inside is checked too)
# Trimming a stream below every group's acknowledgement (the books, once a line is journaled).
TRIM = ("xtrim", "xinfo|groups", "xpending")


@dataclass(frozen=True)
class Access:
    """What one service may do in Redis. Streams: ``consume`` (its consumer group, named like
    the service: read, ack, claim), ``publish`` (XADD only), ``read_streams`` (XREAD and range
    reads, no group: following a stream). Keys: ``write`` (read and write) and ``read``
    patterns. ``replies``: bus request/reply (pub/sub reply channels). ``awaits``: keys it
    may only block on with XREAD (an intent's outcome). A new service is one more row of
    ``ACCESS``."""

    consume: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    read_streams: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    replies: bool = False
    trim: tuple[str, ...] = ()
    awaits: tuple[str, ...] = ()


ACCESS: dict[str, Access] = {
    "gateway": Access(
        consume=(ORDER_REQUESTS, BALANCES),
        publish=(ORDER_EVENTS, TICKERS, HEALTH, INTENTS, CREDENTIALS, CONTROL, COMMANDS,
                 DEAD_LETTER),
        read_streams=(TRADES, CREDENTIALS),  # CREDENTIALS: followed to evict cached clients
        write=(KEY_KILL, KEY_HEARTBEATS, KEY_CREDSTATUS, KEY_PRICES, KEY_VAULT, KEY_VAULT_INDEX,
               KEY_FAILURES, KEY_GATEWAY, KEY_RATE),
        read=(KEY_TOKENS, KEY_ARMED),
        replies=True,
        awaits=(KEY_OUTCOMES,),  # POST /api/trade waits for its intent's outcome
    ),
    "executor": Access(
        consume=(INTENTS, ORDER_EVENTS, CREDENTIALS, COMMANDS),
        publish=(DECISIONS, ORDER_REQUESTS, TRADES, CONTROL, DEAD_LETTER),
        read_streams=(TRADES,),
        write=(KEY_ARMED, KEY_FAILURES, *KEY_EXECUTOR, KEY_OUTCOMES),
        read=(KEY_KILL, KEY_HEARTBEATS, KEY_CREDSTATUS, KEY_PRICES),
        replies=True,
    ),
    "credentials": Access(
        consume=(CREDENTIALS,),
        publish=(CREDENTIALS, DEAD_LETTER),
        write=(KEY_CREDSTATUS, KEY_FAILURES, KEY_CREDENTIALS, KEY_RATE),
        read=(KEY_VAULT, KEY_VAULT_INDEX, *METRICS_READS),
    ),
    "strategy": Access(
        consume=(TICKERS, TRADES),
        publish=(INTENTS, DEAD_LETTER),
        read_streams=(INTENTS,),
        write=(KEY_FAILURES, *KEY_STRATEGY),
        read=(KEY_PRICES, *METRICS_READS),
    ),
    "notifier": Access(  # alerts: follows the trade log and credentials, owns control/dead letters
        consume=(CONTROL, DEAD_LETTER),
        publish=(DEAD_LETTER,),
        read_streams=(TRADES, CREDENTIALS),
        write=(KEY_FAILURES,),
        read=METRICS_READS,
    ),
    "books": Access(
        consume=(TRADES,),
        publish=(DEAD_LETTER, CONTROL),  # CONTROL: the reconciler's findings (the notifier)
        # KEY_LEDGER: EXPIRE once an intent is journaled; KEY_RATE: the reconciler's exchange
        # reads share the rate budget and kraken's nonce turns
        write=(KEY_FAILURES, KEY_LEDGER, KEY_RATE),
        # the reconciler: which keys are validated, and the keys themselves
        read=(*METRICS_READS, KEY_CREDSTATUS, KEY_VAULT, KEY_VAULT_INDEX),
        trim=(TRADES,),
    ),
}
# The executor reads the vault only with its direct path (PIGGY_DIRECT_ROUTE) configured.
DIRECT_ROUTE_EXTRA = Access(read=(KEY_VAULT,), write=(KEY_GATEWAY, KEY_RATE))


# Streams two services each consume in a group, so each may also read and ack the other's
# group (Redis ACLs can't scope group names): on credentials the credentials service's work
# queue and the executor's disarm on a revoked key; on the trade log the strategies' positions
# and the books' journal (which must not miss a line, so it can't just follow). A new row that
# consumes a stream in a group where another already does goes here too;
# tests/integration/test_redis_acl_sweep.py holds the table to it.
SHARED_GROUPS: dict[str, tuple[str, ...]] = {CREDENTIALS: ("executor", "credentials"),
                                             TRADES: ("strategy", "books")}


def group_consumers() -> dict[str, tuple[str, ...]]:
    """stream → the services consuming it in a group (each in the group named like itself).
    Redis ACLs can't scope a group name: where two services share a stream, each user may
    also read and ack the other's group (``piggy:credentials``: the credentials service's
    work queue and the executor's disarm on a revoked key)."""
    out: dict[str, tuple[str, ...]] = {}
    for service, access in ACCESS.items():
        for stream in access.consume:
            out[stream] = (*out.get(stream, ()), service)
    return out
