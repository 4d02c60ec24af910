"""The AsyncAPI document of every service, generated from the code (``make asyncapi``).

Each builder declares the service's real subscribers (its own ``register``) on a bus that
never connects, with settings that ignore the environment, so the documents depend on the
code only. ``faststream docs gen --factory piggy.asyncapi:executor`` gives the same
document; ``python -m piggy.asyncapi`` rewrites ``docs/asyncapi-<service>.json`` and
``--check`` fails (exit 1) when a committed one is stale.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faststream import FastStream

from shared.bus import Bus

DOCS = Path(__file__).resolve().parent.parent / "docs"
_URL = "redis://127.0.0.1:6379/0"


def _bus(service: str) -> Bus:
    return Bus(_URL, service, "docs")


def executor() -> FastStream:
    from services.executor.app import register
    from services.executor.context import ExecutorContext
    from services.executor.ledger import Ledger
    from shared.settings import ExecutorSettings

    bus = _bus("executor")
    register(ExecutorContext(bus=bus, ledger=Ledger(bus.redis),
                             settings=ExecutorSettings.model_construct()))
    return FastStream(bus.broker)


def gateway() -> FastStream:
    from services.gateway import handlers
    from services.gateway.context import GatewayContext
    from shared.books.db import make_engine
    from shared.books.queries import Books
    from shared.settings import ApiSettings, ExchangeSettings, GatewaySettings
    from shared.vault import Vault

    bus = _bus("gateway")
    handlers.register(GatewayContext(
        bus=bus, vault=Vault(bus.redis, bytes(32)), api=ApiSettings.model_construct(),
        exchange=ExchangeSettings.model_construct(), gateway=GatewaySettings.model_construct(),
        api_token="docs", books=Books(make_engine("sqlite://"))))
    return FastStream(bus.broker)


def books() -> FastStream:
    from services.books import handlers
    from services.books.context import BooksContext
    from shared.books.db import make_engine
    from shared.books.queries import Books
    from shared.books.settings import BooksSettings

    bus = _bus("books")
    handlers.register(BooksContext(bus=bus, books=Books(make_engine("sqlite://")),
                                   settings=BooksSettings.model_construct(books_batch_size=256)))
    return FastStream(bus.broker)


def credentials() -> FastStream:
    from services.credentials import handlers
    from shared.settings import CredentialsSettings
    from shared.vault import Vault

    async def no_check(*_: Any) -> Any:
        raise NotImplementedError

    bus = _bus("credentials")
    handlers.register(handlers.CredentialsContext(
        bus=bus, vault=Vault(bus.redis, bytes(32)), settings=CredentialsSettings.model_construct(),
        check=no_check, clock=lambda: datetime.now(UTC)))
    return FastStream(bus.broker)


def strategy() -> FastStream:
    from services.strategy import handlers
    from services.strategy.context import StrategyContext
    from services.strategy.runner import Runner
    from services.strategy.store import StrategyStore
    from shared.settings import StrategySettings

    async def no_publish(_: Any) -> None:
        raise NotImplementedError

    bus = _bus("strategy")
    runner = Runner([], StrategyStore(bus.redis), no_publish, streams_redis=bus.redis)
    handlers.register(StrategyContext(bus=bus, runner=runner,
                                      settings=StrategySettings.model_construct(),
                                      streams_redis=bus.redis))
    return FastStream(bus.broker)


SERVICES: dict[str, Callable[[], FastStream]] = {
    "executor": executor, "gateway": gateway, "credentials": credentials, "strategy": strategy,
    "books": books,
}


def render(service: str) -> str:
    """The document as ``faststream docs gen`` makes it, as JSON with sorted keys (stable)."""
    schema = SERVICES[service]().schema.to_specification().to_jsonable()
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def path(service: str) -> Path:
    return DOCS / f"asyncapi-{service}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m piggy.asyncapi")
    parser.add_argument("--check", action="store_true", help="fail when a document is stale")
    args = parser.parse_args(argv)
    stale = []
    for service in SERVICES:
        text = render(service)
        target = path(service)
        if args.check:
            if not target.exists() or target.read_text() != text:
                stale.append(str(target))
        else:
            target.write_text(text)
            print(f"wrote {target}")
    if stale:
        print("stale AsyncAPI documents (run `make asyncapi`): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
