"""CryptoPiggy's sandbox exchange: a Binance.US-compatible REST server on loopback.

Unmodified ccxt (``binanceus``, sync and async) trades against it with only ``urls['api']``
pointed here. See ``docs/sandbox.md`` for what ccxt sends and how errors map to exceptions.
"""
from sandbox.admin import AsyncSandboxAdmin, SandboxAdmin
from sandbox.server import SandboxProcess, SandboxServer, SandboxThread
from sandbox.state import SandboxState

__all__ = ["AsyncSandboxAdmin", "SandboxAdmin", "SandboxProcess", "SandboxServer",
           "SandboxState", "SandboxThread"]
