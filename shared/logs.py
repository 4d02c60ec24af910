"""Structured logs: JSON lines or readable text, with the event being handled in every line.

Each record carries timestamp, level, service, instance and — inside a bus handler — the
correlation id, intent id and user id of the event being handled. Those come from
contextvars set by the bus's consume middleware (``bind_event``), so no call site passes
them. JSON is the default when stderr is not a terminal (containers, the embedded stack's
log files); ``PIGGY_LOG_FORMAT=json|text`` overrides.
"""
from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

FIELDS = ("correlation_id", "intent_id", "user_id")
# The event being handled (a body or a list of them), read only when a line is emitted.
_context: ContextVar[Any] = ContextVar("piggy_log_context", default=None)
_identity = {"service": "", "instance": ""}


def set_identity(service: str, instance: str) -> None:
    """Which process this is; called once when the process's bus is built."""
    _identity.update(service=service, instance=instance)


def event_fields(body: Any) -> dict[str, str]:
    """The ids of an event body (a dict) worth a log line: correlation, intent, user."""
    if not isinstance(body, Mapping):
        return {}
    return {k: str(body[k])[:64] for k in FIELDS if body.get(k)}


@contextmanager
def bind_event(body: Any) -> Iterator[None]:
    """Every log line inside this block carries the event's ids (taken from ``body`` when a
    line is emitted: nothing is built for the lines the level suppresses)."""
    token = _context.set(body)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Adds service, instance and the bound event's ids to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = _identity["service"]
        record.instance = _identity["instance"]
        bound = event_fields(_context.get())
        for name in FIELDS:
            if not getattr(record, name, ""):
                setattr(record, name, bound.get(name, ""))
        return True


def _ts(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {"ts": _ts(record), "level": record.levelname,
                                "service": getattr(record, "service", ""),
                                "instance": getattr(record, "instance", ""),
                                "logger": record.name, "message": record.getMessage()}
        for name in FIELDS:
            if getattr(record, name, ""):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{short}={getattr(record, name)}"
                       for name, short in zip(FIELDS, ("corr", "intent", "user"), strict=True)
                       if getattr(record, name, ""))
        text = (f"{_ts(record)} {record.levelname:<7} {getattr(record, 'service', '') or '-'} "
                f"{record.name}: {record.getMessage()}" + (f"  [{ids}]" if ids else ""))
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def choose_format(requested: str, is_tty: bool) -> str:
    """``json`` or ``text``: what was asked for, else text on a terminal and JSON elsewhere."""
    requested = requested.strip().lower()
    if requested in ("json", "text"):
        return requested
    if requested:
        raise ValueError(f"PIGGY_LOG_FORMAT must be json or text, not {requested!r}")
    return "text" if is_tty else "json"


def configure(level: str, fmt: str) -> None:
    """Route every logger (uvicorn's too) through one stderr handler in ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
