"""The input types every route, CLI option and event shares: one definition each.

``UserId``, ``Symbol``, ``Exchange`` and ``Amount`` refuse what can't be right (a slash or a
NUL byte in a user id, a path in a symbol, an exchange nobody serves, ``NaN``/``Infinity``/
``1e400`` or a negative amount) with a readable message, wherever the value comes from.
Whether a well-formed symbol exists is the exchange's market data's call (the gateway).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, PlainSerializer, TypeAdapter, ValidationError

USER_ID_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"
SYMBOL_PATTERN = r"^[A-Za-z0-9]{1,16}([/-][A-Za-z0-9]{1,16}(:[A-Za-z0-9]{1,16})?)?$"
MAX_AMOUNT_USD = Decimal(1_000_000)

UserId = Annotated[str, Field(pattern=USER_ID_PATTERN, min_length=1, max_length=64,
                              description="letters, digits and _ . @ - (1-64 characters)")]
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, min_length=1, max_length=40,
                              description="unified (BTC/USDT) or exchange-native (BTCUSDT)")]
Exchange = Literal["binanceus", "binance", "kraken", "coinbase"]
EXCHANGES: tuple[str, ...] = get_args(Exchange)


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


def parse(kind: object, value: object) -> object:
    """Validate one value against one of the types above; ``ValueError`` with a readable
    message (no input echoed) when it does not fit. For CLI options."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        raise ValueError("; ".join(e["msg"] for e in exc.errors(include_url=False,
                                                                include_input=False))) from None
