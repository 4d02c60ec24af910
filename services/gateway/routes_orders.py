"""Order and balance routes (``/api/trade``, ``/api/balance``). Filled in by the gateway work."""
from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
