"""Binance-style API errors: an HTTP status plus ``{"code": <int>, "msg": "..."}``.

The codes and messages are Binance's own, so unmodified ccxt maps them to its usual exception
classes (see ``docs/sandbox.md`` for the verified table).
"""
from __future__ import annotations


class WireError(Exception):
    """An error a dialect answers as ``status`` + ``body()`` (JSON) in its own wire format."""

    status: int
    recorded = False  # already in the venue's admin rejections list

    def body(self) -> object:
        raise NotImplementedError


class BinanceError(WireError):
    """An error answered to the client as ``status`` + ``{"code": code, "msg": msg}``.

    The core (order rules, matching) also raises these when it refuses an order; ``reason``
    then names the refusal independently of Binance's wording (``insufficient_funds``,
    ``duplicate_client_order_id``, ``below_minimum``, ``above_maximum``, ``off_step``,
    ``unknown_symbol``, ``unknown_order``, ``would_take``), and the kraken and coinbase dialects
    translate by ``reason`` into their own error bodies.
    """

    def __init__(self, status: int, code: int, msg: str, reason: str = "") -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg
        self.reason = reason

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def api_key_format_invalid() -> BinanceError:
    return BinanceError(401, -2014, "API-key format invalid.")


def invalid_api_key() -> BinanceError:
    return BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def bad_signature() -> BinanceError:
    return BinanceError(400, -1022, "Signature for this request is not valid.")


def outside_recv_window() -> BinanceError:
    return BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def ahead_of_server() -> BinanceError:
    return BinanceError(
        400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
    )


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def not_required(name: str) -> BinanceError:
    return BinanceError(400, -1106, f"Parameter '{name}' sent when not required.")


def illegal_chars(name: str) -> BinanceError:
    return BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.")


def invalid_symbol() -> BinanceError:
    return BinanceError(400, -1121, "Invalid symbol.", "unknown_symbol")


def filter_failure(name: str, reason: str = "below_minimum") -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}", reason)


def too_precise() -> BinanceError:
    return BinanceError(400, -1111, "Precision is over the maximum defined for this asset.")


def insufficient_balance() -> BinanceError:
    return BinanceError(400, -2010, "Account has insufficient balance for requested action.",
                        "insufficient_funds")


def duplicate_order() -> BinanceError:
    return BinanceError(400, -2010, "Duplicate order sent.", "duplicate_client_order_id")


def would_take() -> BinanceError:
    return BinanceError(400, -2010, "Order would immediately match and take.", "would_take")


def no_such_order() -> BinanceError:
    return BinanceError(400, -2013, "Order does not exist.", "unknown_order")


def unknown_order() -> BinanceError:
    return BinanceError(400, -2011, "Unknown order sent.", "unknown_order")
