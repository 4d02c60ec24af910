"""The executor's AsyncAPI document: ``faststream docs gen --factory services.executor.asyncapi:build``.

The same builder as ``make asyncapi`` (``piggy/asyncapi.py``): the real handler table on a
broker that never connects; nothing here reads the environment.
"""
from __future__ import annotations

from piggy.asyncapi import executor as build

__all__ = ["build"]
