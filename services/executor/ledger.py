"""The idempotency ledger, the live reservation and the executor's writes, in three Lua scripts.

One hash per intent (``IntentRecord``): who claimed it, the intent, its status, whether a
live order was routed (and what it reserved against the daily cap), reconciliation rounds
and the final outcome. Every status write checks ``lifecycle.TRANSITIONS`` inside Redis.

* ``intake``: for a batch of intents, in one call: claim each (HSETNX), read the gate
  inputs (kill switch, gateway heartbeat, armed, credentials, today's spend, price) and,
  where Python's static gates allow live, take the live reservation atomically with those
  reads — so an emergency stop stops intents that were already read but not yet routed.
  Where the reservation is taken for the gateway route and the caller gave the frames
  (``RouteFrames``), the same step also routes: status decided → routed, the decision and
  the order request on their streams, the outcome deadline, the intent's entry acked
  (``Reservation.SENT``). Every gate the routing depends on that needs Redis was read in this
  step, the others (``intake.static_live``) before it: a live intent is one call, not an
  intake and a commit, and nothing can change between its reservation and its request.
* ``commit``: a list of writes (status steps, stream entries, outcomes with their trade
  line, releases, in-flight deadlines, acks) in one call. An outcome is recorded once
  (checked against the hash) and its trade line is written in the same step, so however
  often an intent or an outcome is delivered it is logged once; the same step adds the line
  to the intent's own short-lived outcome stream, which a waiting caller blocks on
  (``shared/outcomes.py``).
* ``rounds``: the reconciler's pass over routed intents past their deadline.

Every key a script touches is passed in ARGV (a single Redis, not a cluster).

Behind Sentinel ``commit`` waits for a replica (``shared.durable``): its order requests,
outcomes and trade lines survive a failover, and so does every earlier write (``intake``'s
claims and reservations: replication is one ordered stream). ``intake`` waits only when it
may route (an order request leaves in it); otherwise nothing outside Redis acts on it before
its commit (the direct route's order waits for its own marker).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis.asyncio as aredis
from pydantic import BaseModel

from services.executor.lifecycle import IntentRecord, IntentStatus, lua_table
from shared import outcomes, streams
from shared.bus import frame
from shared.durable import Durability
from shared.redis_text import as_str, as_str_map
from shared.state import ARMED, HEARTBEATS, KILL

LEDGER_TTL_S = 7 * 24 * 3600
PREFIX = "piggy:ledger:"
INFLIGHT = "piggy:executor:inflight"

_INTAKE_BODY = """
local consumer, now, ttl, maxage = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local direct, cap, n = ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local kill = redis.call('EXISTS', ARGV[8]) == 1
local top = redis.call('ZRANGE', ARGV[9], -1, -1, 'WITHSCORES')
local beat = top[2] or ''
local fresh = beat ~= '' and now - tonumber(beat) <= maxage
local dec, dec_max, req, req_max = ARGV[11], ARGV[12], ARGV[13], ARGV[14]
local inflight, acks, group = ARGV[15], ARGV[16], ARGV[17]
local out = {{kill and '1' or '0', beat}}
for i = 0, n - 1 do
  local o = 18 + i * 15
  local lk, ck, sk, pk = ARGV[o], ARGV[o + 1], ARGV[o + 2], ARGV[o + 3]
  local intent, armed_as, redelivered = ARGV[o + 4], ARGV[o + 5], ARGV[o + 6]
  local try_live, micros = ARGV[o + 7], ARGV[o + 8]
  local accepted, request, deadline, entry, id = ARGV[o + 9], ARGV[o + 10], ARGV[o + 11],
                                                 ARGV[o + 12], ARGV[o + 13]
  local awaited = ARGV[o + 14]
  local claim
  if redis.call('HSETNX', lk, 'claimed_by', consumer) == 1 then
    redis.call('HSET', lk, 'intent', intent, 'status', 'received')
    if awaited == '1' then redis.call('HSET', lk, 'awaited', '1') end
    redis.call('EXPIRE', lk, ttl)
    claim = 'new'
  elseif redis.call('HEXISTS', lk, 'outcome') == 1 then
    claim = 'done'
  elseif redelivered == '1' then
    redis.call('HSETNX', lk, 'status', 'received')  -- claimed before statuses were recorded
    claim = 'resume'
  else
    claim = 'busy'
  end
  local row = {claim}
  if claim == 'new' or claim == 'resume' then
    local status = redis.call('HGET', lk, 'status') or 'received'
    local routed = redis.call('HGET', lk, 'routed') or ''
    local armed = redis.call('HEXISTS', ARGV[10], armed_as)
    local cred = redis.call('HMGET', ck, 'status', 'can_trade', 'error')
    local spent = redis.call('GET', sk) or '0'
    local price = redis.call('GET', pk) or ''
    local res = ''
    if routed ~= '' then
      res = 'already'
    elseif try_live == '1' then
      if kill then res = 'halted'
      elseif armed == 0 then res = 'disarmed'
      elseif cred[1] ~= 'validated' or cred[2] ~= '1' then res = 'credentials'
      elseif not fresh and direct ~= '1' then res = 'heartbeat'
      elseif tonumber(spent) + tonumber(micros) > cap then res = 'cap'
      else
        redis.call('INCRBY', sk, micros)
        redis.call('EXPIRE', sk, 172800)
        routed = fresh and 'gateway' or 'direct'
        redis.call('HSET', lk, 'routed', routed, 'reserved', micros, 'spend_key', sk)
        res = 'ok'
        if routed == 'gateway' and request ~= '' and advance(lk, 'decided')
            and advance(lk, 'routed') then  -- routed in this step (see the module's docstring)
          redis.call('XADD', dec, 'MAXLEN', '~', dec_max, '*', '__data__', accepted)
          redis.call('ZADD', inflight, deadline, id)
          redis.call('XADD', req, 'MAXLEN', '~', req_max, '*', '__data__', request)
          if entry ~= '' then redis.call('XACK', acks, group, entry) end
          status, res = 'routed', 'sent'
        end
      end
    end
    row = {claim, status, routed, tostring(armed), cred[1] or '', cred[2] or '', cred[3] or '',
           spent, price, res}
  end
  out[#out + 1] = row
end
return out
"""

_LIFECYCLE = "local T = " + lua_table() + """
local function advance(lk, to)
  local cur = redis.call('HGET', lk, 'status')
  if cur == to then return true end
  if (not cur and to == 'received') or (cur and T[cur] and T[cur][to]) then
    redis.call('HSET', lk, 'status', to)
    return true
  end
  return false
end
local function release(lk)
  local h = redis.call('HMGET', lk, 'reserved', 'spend_key')
  if h[1] and h[2] and redis.call('HSETNX', lk, 'released', '1') == 1 then
    redis.call('DECRBY', h[2], h[1])
  end
end
"""

_INTAKE = _LIFECYCLE + _INTAKE_BODY

_COMMIT = _LIFECYCLE + """
local inflight, outcome_ttl = ARGV[1], ARGV[2]
local out = {}
local i = 3
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'xadd' then
    redis.call('XADD', ARGV[i + 1], 'MAXLEN', '~', ARGV[i + 2], '*', '__data__', ARGV[i + 3])
    i = i + 4
  elseif op == 'status' then
    out[#out + 1] = advance(ARGV[i + 1], ARGV[i + 2]) and 1 or 0
    i = i + 3
  elseif op == 'inflight' then
    if redis.call('HGET', ARGV[i + 1], 'status') == 'routed' then
      redis.call('ZADD', inflight, ARGV[i + 3], ARGV[i + 2])
      if ARGV[i + 4] ~= '' then redis.call('HSET', ARGV[i + 1], 'last_error', ARGV[i + 4]) end
    end
    i = i + 5
  elseif op == 'finish' then
    local lk = ARGV[i + 1]
    local won = 0
    if redis.call('HEXISTS', lk, 'outcome') == 0 and advance(lk, ARGV[i + 3]) then
      if ARGV[i + 8] == '1' then release(lk) end
      redis.call('HSET', lk, 'outcome', ARGV[i + 4])
      redis.call('ZREM', inflight, ARGV[i + 2])
      redis.call('XADD', ARGV[i + 5], 'MAXLEN', '~', ARGV[i + 6], '*', '__data__', ARGV[i + 7])
      if redis.call('HGET', lk, 'awaited') == '1' then
        redis.call('XADD', ARGV[i + 9], '*', 'line', ARGV[i + 4])
        redis.call('EXPIRE', ARGV[i + 9], outcome_ttl)
      end
      won = 1
    end
    out[#out + 1] = won
    i = i + 10
  elseif op == 'unroute' then
    release(ARGV[i + 1])
    redis.call('HDEL', ARGV[i + 1], 'routed', 'reserved', 'spend_key', 'released')
    i = i + 2
  elseif op == 'ack' then
    local n = tonumber(ARGV[i + 3])
    redis.call('XACK', ARGV[i + 1], ARGV[i + 2], unpack(ARGV, i + 4, i + 3 + n))
    i = i + 4 + n
  else
    return redis.error_reply('commit: unknown op ' .. tostring(op))
  end
end
return out
"""

_ROUNDS = """
local inflight, now, nxt, max = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
local out = {}
for _, id in ipairs(ids) do
  local lk = ARGV[6] .. id
  local h = redis.call('HMGET', lk, 'status', 'intent', 'last_error', 'routed')
  if h[1] ~= 'routed' then
    redis.call('ZREM', inflight, id)
  else
    local rounds = redis.call('HINCRBY', lk, 'lookups', 1)
    redis.call('ZADD', inflight, nxt, id)
    out[#out + 1] = {rounds > max and 'exhausted' or 'lookup', id, h[2] or '', h[3] or '',
                     h[4] or '', tostring(rounds)}
  end
end
return out
"""


class Reservation(StrEnum):
    NOT_TRIED = ""
    OK = "ok"
    ALREADY = "already"
    HALTED = "halted"
    DISARMED = "disarmed"
    CREDENTIALS = "credentials"
    HEARTBEAT = "heartbeat"
    CAP = "cap"
    SENT = "sent"  # reserved, and routed to the gateway in the same step (order request sent)


class Claim(StrEnum):
    NEW = "new"
    RESUME = "resume"  # a redelivery of an intent whose consumer stopped mid-way
    DONE = "done"  # already has an outcome
    BUSY = "busy"  # claimed by someone else, first delivery here: not handled twice


@dataclass(frozen=True)
class IntakeRequest:
    intent_id: str
    intent_json: str
    armed_as: str  # the user's field in ARMED for the intent's exchange (state.armed_field)
    cred_key: str
    spend_key: str
    price_key: str
    redelivered: bool
    try_live: bool
    micros: int
    route: RouteFrames | None = None  # given: a reservation for the gateway routes at once
    await_outcome: bool = True  # the outcome also goes on the intent's outcome key


@dataclass(frozen=True)
class RouteFrames:
    """What routing an intent to the gateway writes, ready for ``intake`` to write it in the
    step that takes the reservation: the decision, the order request, the outcome deadline,
    and the intent's entry (acknowledged with it)."""

    accepted: bytes
    request: bytes
    deadline: float
    entry_id: str


@dataclass(frozen=True)
class IntakeRow:
    """What ``intake`` found and did for one intent."""

    claim: Claim
    status: IntentStatus | None = None
    routed: str = ""
    armed: bool = False
    cred_status: str = "missing"
    can_trade: bool = False
    cred_error: str = ""
    spent_micros: int = 0
    price: str = ""
    reservation: Reservation = Reservation.NOT_TRIED


@dataclass(frozen=True)
class Intake:
    halted: bool
    heartbeat: float | None
    rows: list[IntakeRow]


@dataclass(frozen=True)
class Round:
    """One reconciliation round of an overdue routed intent."""

    exhausted: bool
    intent_id: str
    intent_json: str
    last_error: str
    routed: str
    rounds: int


def key(intent_id: str) -> str:
    return PREFIX + intent_id


class Ledger:
    def __init__(self, redis: aredis.Redis, durability: Durability | None = None, *,
                 outcome_ttl_s: int = outcomes.TTL_S) -> None:
        self._redis = redis
        self._durability = durability or Durability()
        self._outcome_ttl_s = outcome_ttl_s
        self._intake = redis.register_script(_INTAKE)
        self._commit = redis.register_script(_COMMIT)
        self._rounds = redis.register_script(_ROUNDS)

    async def intake(self, consumer: str, now: float, heartbeat_max_age_s: float,
                     direct: bool, cap_micros: int, items: Sequence[IntakeRequest],
                     ack_stream: str = streams.INTENTS, ack_group: str = "") -> Intake:
        args: list[str | int | float | bytes] = [
            consumer, now, LEDGER_TTL_S, heartbeat_max_age_s, "1" if direct else "0", cap_micros,
            len(items), KILL, HEARTBEATS, ARMED, streams.DECISIONS,
            streams.maxlen(streams.DECISIONS), streams.ORDER_REQUESTS,
            streams.maxlen(streams.ORDER_REQUESTS), INFLIGHT, ack_stream, ack_group]
        for it in items:
            r = it.route
            args += [key(it.intent_id), it.cred_key, it.spend_key, it.price_key, it.intent_json,
                     it.armed_as, "1" if it.redelivered else "0", "1" if it.try_live else "0",
                     it.micros, r.accepted if r else "", r.request if r else "",
                     r.deadline if r else 0, r.entry_id if r else "", it.intent_id,
                     "1" if it.await_outcome else "0"]
        if any(it.route for it in items):  # order requests leave in this step: made durable
            raw = await self._durability.script(self._redis, self._intake, (), args,
                                                write="executor intake")
        else:
            raw = await self._intake(args=args)
        (kill, beat), rows = raw[0], raw[1:]
        return Intake(halted=kill == "1", heartbeat=float(beat) if beat else None,
                      rows=[_row(r) for r in rows])

    async def commit(self, ops: Sequence[str | int | float | bytes]) -> list[int]:
        """Run a list of writes (see ``Writes``) in one call; one result per status/finish."""
        if not ops:
            return []
        reply = await self._durability.script(self._redis, self._commit, (),
                                              [INFLIGHT, self._outcome_ttl_s, *ops],
                                              write="executor commit")
        return [int(x) for x in reply]

    async def get(self, intent_id: str) -> IntentRecord | None:
        raw = await self._redis.hgetall(key(intent_id))
        return IntentRecord.from_hash(as_str_map(raw)) if raw else None

    async def get_many(self, intent_ids: Sequence[str]) -> list[IntentRecord | None]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for intent_id in intent_ids:
                pipe.hgetall(key(intent_id))
            raws = await pipe.execute()
        return [IntentRecord.from_hash(r) if r else None for r in raws]

    async def rounds(self, now: float, next_deadline: float, max_rounds: int,
                     limit: int = 100) -> list[Round]:
        raw = await self._rounds(args=[INFLIGHT, now, next_deadline, max_rounds, limit, PREFIX])
        return [Round(r[0] == "exhausted", r[1], r[2], r[3], r[4], int(r[5])) for r in raw]

    async def overdue(self, now: float, limit: int = 100) -> list[str]:
        members = await self._redis.zrangebyscore(INFLIGHT, 0, now, start=0, num=limit)
        return [as_str(m) for m in members if isinstance(m, str | bytes)]


def _row(r: list[str]) -> IntakeRow:
    if len(r) == 1:
        return IntakeRow(Claim(r[0]))
    claim, status, routed, armed, cred, can_trade, error, spent, price, res = r
    return IntakeRow(Claim(claim), IntentStatus(status), routed, armed == "1", cred or "missing",
                     can_trade == "1", error, int(spent or 0), price, Reservation(res))


class Writes:
    """The ops of one ``Ledger.commit`` call, built up in order."""

    def __init__(self) -> None:
        self.ops: list[str | int | float | bytes] = []
        self.results: list[str] = []  # what each status/finish result is about
        self.lines: dict[str, Any] = {}  # the trade line of each finish, by intent id
        self.published: list[tuple[str, BaseModel]] = []  # events the commit writes for sure

    def xadd(self, stream: str, event: BaseModel) -> None:
        self.ops += ["xadd", stream, streams.maxlen(stream), frame(event)]
        self.published.append((stream, event))

    def status(self, intent_id: str, status: IntentStatus) -> None:
        self.ops += ["status", key(intent_id), status.value]
        self.results.append(f"status:{intent_id}")

    def inflight(self, intent_id: str, deadline: float, note: str = "") -> None:
        self.ops += ["inflight", key(intent_id), intent_id, deadline, note]

    def finish(self, intent_id: str, status: IntentStatus, outcome_json: str, stream: str,
               maxlen: int, frame: bytes, *, release: bool = False) -> None:
        """Record the outcome and write its trade line, once, and the same line on the
        intent's outcome key (``shared.outcomes``: what a caller blocks on, expiring);
        ``release`` gives the live reservation back in the same step (only if this call is
        the one that records it)."""
        self.ops += ["finish", key(intent_id), intent_id, status.value, outcome_json, stream,
                     maxlen, frame, "1" if release else "0", outcomes.key(intent_id)]
        self.results.append(f"finish:{intent_id}")

    def unroute(self, intent_id: str) -> None:
        self.ops += ["unroute", key(intent_id)]

    def ack(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        ids = [i for i in entry_ids if i]
        if ids:
            self.ops += ["ack", stream, group, len(ids), *ids]
