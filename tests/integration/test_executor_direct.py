"""The direct ccxt path: gateway down before sending, keys from the vault, the sandbox over HTTP."""
from __future__ import annotations

import base64
import os
from decimal import Decimal

import pytest

from piggy.ops import wait_outcome
from sandbox import AsyncSandboxAdmin, SandboxServer
from services.executor.routing import client_order_id
from shared import state, streams
from shared.events import ArmLive, OrderIntent
from shared.settings import ExecutorSettings
from shared.vault import ApiKeyPair, Vault
from tests.support.inprocess import ask_executor, client_bus, executor

pytestmark = pytest.mark.integration


async def test_with_the_gateway_down_a_configured_direct_path_places_the_order_once(
        redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    master = base64.urlsafe_b64encode(os.urandom(32)).decode()
    async with SandboxServer(port=0, seed=3) as sb:
        monkeypatch.setenv("PIGGY_MASTER_KEY", master)
        monkeypatch.setenv("PIGGY_BINANCEUS_URL", sb.url)
        monkeypatch.setenv("PIGGY_HOME", str(tmp_path))
        admin = AsyncSandboxAdmin(sb.url)
        key = await admin.create_key(balances={"USDT": "100"})
        settings = ExecutorSettings(allow_live=True, direct_route=True, paper_enabled=False)
        async with executor(redis_url, settings) as ctx, client_bus(redis_url) as bus:
            vault = Vault(bus.redis, base64.urlsafe_b64decode(master))
            await vault.put("dora", "binanceus", ApiKeyPair(key["api_key"], key["secret"]))
            await state.set_credential_status(bus.redis, "dora", "binanceus",
                                              {"status": "validated", "can_trade": True})
            assert await state.freshest_heartbeat(bus.redis) is None  # no gateway at all
            assert (await ask_executor(bus, ArmLive(user_id="dora"))).armed
            intent = OrderIntent(user_id="dora", symbol="BTCUSDT", amount_usd=Decimal(2))
            await bus.publish(intent, streams.INTENTS)
            line = await wait_outcome(bus, intent.intent_id, 15)
            assert line is not None, "no outcome"
            assert line.mode.value == "LIVE" and line.route == "direct", line
            orders = await admin.orders()
            assert len(orders) == 1
            assert orders[0]["clientOrderId"] == client_order_id(intent.intent_id)
            assert str(orders[0]["orderId"]) == line.order_id
            assert ctx.direct is not None
