"""CLI option callbacks: the same ``shared.types`` checks as the API and the events."""
from __future__ import annotations

from decimal import Decimal

import typer

from shared.types import Amount, Exchange, Symbol, UserId, parse


def _check(kind: object, value: object, what: str) -> object:
    try:
        return parse(kind, value)
    except ValueError as exc:
        raise typer.BadParameter(f"{what}: {exc}") from None


def user(value: str | None) -> str | None:
    return None if value is None else str(_check(UserId, value, "user id"))


def exchange(value: str | None) -> str | None:
    return None if value is None else str(_check(Exchange, value, "exchange"))


def symbol(value: str) -> str:
    return str(_check(Symbol, value, "symbol"))


def amount(value: str) -> Decimal:
    checked = _check(Amount, value, f"{value!r} is not an amount in USD")
    assert isinstance(checked, Decimal)
    return checked
