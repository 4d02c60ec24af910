"""The input types every route, CLI option and event shares: one definition each.

``UserId``, ``Symbol``, ``Exchange`` and ``Amount`` refuse what can't be right (a slash or a
NUL byte in a user id, a path in a symbol, an exchange nobody serves, ``NaN``/``Infinity``/
``1e400`` or a negative amount) with a readable message, wherever the value comes from.
Whether a well-formed symbol exists is the exchange's market data's call (the gateway).
"""
from __future__ import annotations

from shared.exchanges import EXCHANGES, Exchange

__all__ = ["EXCHANGES", "Exchange"]

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer, TypeAdapter, ValidationError

USER_ID_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
SYMBOL_PATTERN = r"^[A-Za-z0-9]{1,16}([/-][A-Za-z0-9]{1,16}(:[A-Za-z0-9]{1,16})?)?$"
MAX_AMOUNT_USD = Decimal(1_000_000)

USER_ID_RULE = "letters, digits and _ . @ - only, 1 to 64 characters"
SYMBOL_RULE = ("a market like BTC/USDT, BTC/USDT:USDT, BTC-USD or BTCUSDT (letters and digits, "
               "at most 40 characters)")


def _matching(pattern: str, rule: str) -> AfterValidator:
    """The pattern checked with a message a person understands (pydantic's would quote the
    regular expression); the pattern stays in the JSON schema for clients and fuzzers."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(rule)
        return value

    return AfterValidator(check)


UserId = Annotated[str, Field(min_length=1, max_length=64, description=USER_ID_RULE,
                              json_schema_extra={"pattern": USER_ID_PATTERN}),
                   _matching(USER_ID_PATTERN, USER_ID_RULE)]
Symbol = Annotated[str, Field(min_length=1, max_length=40, description=SYMBOL_RULE,
                              json_schema_extra={"pattern": SYMBOL_PATTERN}),
                   _matching(SYMBOL_PATTERN, SYMBOL_RULE)]
# the one list of exchanges is shared.exchanges (each name has its adapter there)


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    return value


Amount = Annotated[
    Decimal,
    Field(gt=0, le=MAX_AMOUNT_USD, max_digits=20, decimal_places=8, allow_inf_nan=False,
          description=f"USD, greater than 0 and at most {MAX_AMOUNT_USD}, up to 8 decimals"),
    AfterValidator(_finite),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]


def parse(kind: Any, value: object) -> object:
    """Validate one value against one of the types above; ``ValueError`` with a readable
    message (no input echoed) when it does not fit. For CLI options."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        raise ValueError("; ".join(e["msg"].removeprefix("Value error, ")
                                   for e in exc.errors(include_url=False, include_input=False))) from None
