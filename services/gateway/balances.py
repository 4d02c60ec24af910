"""Balances: free/used/total per asset from the exchange, plus a USD value where a price is known.

``value_balances`` is pure (ccxt balance dict + prices → ``BalanceReport``); ``fetch_report``
does the I/O through the pool (a retried read) and the last prices the ticker loop keeps.
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import redis.asyncio as aredis

from shared import state
from shared.events import AssetBalance, BalanceReport
from shared.exchange import to_decimal
from shared.exchanges import adapter
from shared.exchanges.pool import ExchangePool
from shared.vault import VaultError

USD_EQUIVALENT = frozenset({"USD", "USDT", "USDC"})  # valued at 1:1
QUOTES = ("USDT", "USD", "USDC")


def value_balances(user_id: str, exchange: str, balance: Mapping[str, Any],
                   prices: Mapping[str, Decimal]) -> BalanceReport:
    """``prices`` maps an asset (``"BTC"``) to its USD price."""
    out: dict[str, AssetBalance] = {}
    total_usd = Decimal(0)
    for asset, entry in (balance.get("total") or {}).items():
        free = to_decimal((balance.get("free") or {}).get(asset))
        used = to_decimal((balance.get("used") or {}).get(asset))
        total = to_decimal(entry)
        if not (free or used or total):
            continue
        price = Decimal(1) if asset in USD_EQUIVALENT else prices.get(asset)
        usd = (total * price).quantize(Decimal("0.01")) if price is not None else None
        total_usd += usd or 0
        out[asset] = AssetBalance(free=free, used=used, total=total, usd=usd)
    return BalanceReport(user_id=user_id, exchange=exchange, ok=True, balances=out,
                         total_usd=total_usd)


async def usd_prices(redis: aredis.Redis, exchange: str, assets: list[str]) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    for asset in assets:
        if asset in USD_EQUIVALENT:
            continue
        for quote in QUOTES:
            price = await state.last_price(redis, exchange, f"{asset}/{quote}")
            if price is not None:
                prices[asset] = price
                break
    return prices


async def fetch_report(pool: ExchangePool, redis: aredis.Redis, user_id: str,
                       exchange: str) -> BalanceReport:
    try:
        client = await pool.client(user_id, exchange)
    except VaultError:
        return BalanceReport(user_id=user_id, exchange=exchange, ok=False, category="no_credentials",
                             error=f"no API keys stored for {user_id} on {exchange}")
    except Exception as exc:
        why = adapter(exchange).classify(exc)
        return BalanceReport(user_id=user_id, exchange=exchange, ok=False,
                             category=why.category.value, error=why.message)
    try:
        balance = await pool.read(exchange, client.fetch_balance)
    except Exception as exc:
        why = adapter(exchange).classify(exc, pool.redactions(client))
        return BalanceReport(user_id=user_id, exchange=exchange, ok=False,
                             category=why.category.value, error=why.message)
    prices = await usd_prices(redis, exchange, list((balance.get("total") or {}).keys()))
    return value_balances(user_id, exchange, balance, prices)
