"""The exchange port: ask the exchange about a key through unmodified ccxt, once, and close.

The exchange's adapter (``shared.exchanges``) makes the client and says what the key may do
(binance: the account's ``canTrade``; coinbase: ``key_permissions``; kraken: an order
validated but not submitted). The plaintext secret lives only in the ccxt instance for the
duration of one check.
"""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import ccxt

from services.credentials.validation import Decision, decide_from_access, decide_from_error
from shared.exchanges import adapter
from shared.exchanges.base import is_loopback
from shared.exchanges.gate import ExchangeGate
from shared.settings import ExchangeSettings
from shared.vault import ApiKeyPair

log = logging.getLogger("piggy.credentials.checker")

Checker = Callable[[str, ApiKeyPair], Awaitable[Decision]]


def ccxt_checker(settings: ExchangeSettings, gate: ExchangeGate | None = None) -> Checker:
    """``gate``: the check's calls take the shared rate budget and kraken nonce, like the
    gateways' calls on the same key."""
    async def check(exchange: str, pair: ApiKeyPair) -> Decision:
        ex = adapter(exchange)
        client = ex.make_client(settings, pair)
        if gate is not None:
            gate.attach(client, exchange, pair.api_key,
                        loopback=is_loopback(settings.base_url(exchange)))
        try:
            balance = await client.fetch_balance()
            access = await ex.key_access(client, balance if isinstance(balance, dict) else {})
        except (ccxt.BaseError, TimeoutError, OSError) as exc:
            decision = decide_from_error(exc, exchange)
            log.info("exchange %s answered %s for key %r: %s (code %s)", exchange,
                     type(exc).__name__, pair, decision.reason_code, decision.exchange_code)
            return decision
        finally:
            await client.close()
        return decide_from_access(access)

    return check
