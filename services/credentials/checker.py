"""The exchange port: ask the exchange about a key through unmodified ccxt, once, and close.

The plaintext secret lives only in the ccxt instance for the duration of one request.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import ccxt

from services.credentials.validation import Decision, decide_from_account, decide_from_error
from shared.exchange import make_exchange
from shared.settings import ExchangeSettings
from shared.vault import ApiKeyPair

log = logging.getLogger("piggy.credentials.checker")

Checker = Callable[[str, ApiKeyPair], Awaitable[Decision]]


def ccxt_checker(settings: ExchangeSettings) -> Checker:
    async def check(exchange: str, pair: ApiKeyPair) -> Decision:
        client = make_exchange(exchange, settings, pair)
        try:
            balance = await client.fetch_balance()
        except (ccxt.BaseError, TimeoutError, OSError) as exc:
            decision = decide_from_error(exc)
            log.info("exchange %s answered %s for key %r: %s (code %s)", exchange,
                     type(exc).__name__, pair, decision.reason_code, decision.exchange_code)
            return decision
        finally:
            await client.close()
        return decide_from_account(balance.get("info") if isinstance(balance, dict) else None)

    return check
