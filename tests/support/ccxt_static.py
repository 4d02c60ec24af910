"""ccxt's recorded fixtures (a subset in ``tests/fixtures/ccxt_static``) and the oracle for
market parsing: the recorded raw market entry parsed by the installed ccxt, offline."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ccxt

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ccxt_static"
COMPARED = ("id", "symbol", "base", "quote", "baseId", "quoteId", "precision", "limits")


def recorded_market(exchange: str, symbol: str) -> dict[str, Any]:
    markets: dict[str, Any] = json.loads((FIXTURES / "markets.json").read_text())
    return dict(markets[exchange][symbol])


def recorded_requests(exchange: str) -> dict[str, Any]:
    requests: dict[str, Any] = json.loads((FIXTURES / "requests.json").read_text())
    return dict(requests[exchange])


def parse_recorded_market(exchange: str, symbol: str) -> dict[str, Any]:
    """How the installed ccxt parses the recorded raw entry of ``symbol`` (no I/O: the
    oracle instance's fetch is replaced; the instance under test is never touched)."""
    info = recorded_market(exchange, symbol)["info"]
    if exchange == "kraken":
        oracle = ccxt.kraken()
        oracle.publicGetAssetPairs = lambda params=None: {"error": [], "result": {
            recorded_market(exchange, symbol)["id"]: info}}
        parsed = oracle.fetch_markets()[0]
    elif exchange == "coinbase":
        parsed = ccxt.coinbase().parse_spot_market(info, {})
    else:
        oracle = ccxt.binance()
        oracle.options.update(crossMarginPairsData=[], isolatedMarginPairsData=[])
        parsed = oracle.parse_market(info)
    return {k: parsed[k] for k in COMPARED}


def market_differences(parsed: dict[str, Any], oracle: dict[str, Any]) -> list[str]:
    """Fields where ``parsed`` differs from ``oracle``: ids, codes, precision and limits."""
    diffs = [f"{k}: {parsed.get(k)!r} != {oracle[k]!r}"
             for k in ("id", "symbol", "base", "quote", "baseId", "quoteId")
             if parsed.get(k) != oracle[k]]
    diffs += [f"precision.{k}: {parsed['precision'].get(k)!r} != {v!r}"
              for k, v in oracle["precision"].items() if parsed["precision"].get(k) != v]
    for kind in ("amount", "cost", "price", "market"):
        for bound, value in (oracle["limits"].get(kind) or {}).items():
            if parsed["limits"].get(kind, {}).get(bound) != value:
                diffs.append(f"limits.{kind}.{bound}: "
                             f"{parsed['limits'].get(kind, {}).get(bound)!r} != {value!r}")
    return diffs
