"""CryptoPiggy's sandbox exchange: one loopback REST server, one venue per exchange.

``/binanceus`` (also the root paths), ``/binance``, ``/kraken`` and ``/coinbase`` each speak
that exchange's wire format over a shared core (accounts, matching, fees, faults, admin API).
Unmodified ccxt (sync and async) trades against a venue with only ``urls['api']`` pointed at
it (``sandbox.testing``). See ``docs/sandbox.md`` for paths, auth, errors and minimums.
"""
from sandbox.admin import AsyncSandboxAdmin, SandboxAdmin
from sandbox.server import SandboxProcess, SandboxServer, SandboxThread
from sandbox.state import SandboxState

__all__ = ["AsyncSandboxAdmin", "SandboxAdmin", "SandboxProcess", "SandboxServer",
           "SandboxState", "SandboxThread"]
