"""Gathering the gate inputs for one user on one exchange from Redis, in one round trip."""
from __future__ import annotations

from decimal import Decimal

from services.executor.context import ExecutorContext
from services.executor.gates import Credentials, GateInputs
from services.executor.risk import from_micros, spend_key
from shared import state
from shared.state import ARMED, HEARTBEATS, KILL, TradingState, armed_field


async def gate_inputs(ctx: ExecutorContext, user_id: str, exchange: str,
                      amount_usd: Decimal = Decimal(0)) -> GateInputs:
    now = ctx.clock()
    async with ctx.bus.redis.pipeline(transaction=False) as pipe:
        pipe.exists(KILL)
        pipe.hexists(ARMED, armed_field(user_id, exchange))
        pipe.hgetall(state.cred_status_key(user_id, exchange))
        pipe.zrange(HEARTBEATS, -1, -1, withscores=True)
        pipe.get(spend_key(user_id, ctx.now()))
        halted, armed, cred, beat, spent = await pipe.execute()
    s = ctx.settings
    return GateInputs(
        allow_live=s.allow_live,
        credentials=Credentials(status=cred.get("status", "missing"),
                                can_trade=cred.get("can_trade") == "1", error=cred.get("error", "")),
        heartbeat_age_s=max(0.0, now - float(beat[0][1])) if beat else None,
        heartbeat_max_age_s=s.heartbeat_max_age_s,
        armed=bool(armed),
        trading_state=TradingState.HALTED if halted else TradingState.ACTIVE,
        dry_run=s.dry_run,
        amount_usd=amount_usd,
        min_trade_usd=s.min_trade_usd,
        max_trade_usd=s.max_trade_usd,
        spent_today_usd=from_micros(int(spent or 0)),
        daily_cap_usd=s.daily_cap_usd,
    )
