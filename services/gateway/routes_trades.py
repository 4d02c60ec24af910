"""``GET /api/trades``: the trade history, read from the books (the journal in SQL), newest
first and paginated — one user's history costs the same however much everyone trades.

A page holds at most ``limit`` lines; when there are more, the ``X-Piggy-Next-Page`` header
holds the cursor to pass back as ``before``. ``since``/``until`` bound the time. A user the
product knows nothing of (no trades, no credentials, not the caller's own token) is a 404
naming the user; a books database that can't be read is a 503 naming the cause.
"""
from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.gateway.auth import authorize, operator_only
from shared.books import queries
from shared.books.db import BooksDatabaseError, describe
from shared.books.journal import line_of
from shared.books.queries import Books, Cursor, Page
from shared.exchanges import EXCHANGES
from shared.types import UserId
from shared.vault import Vault, vault_ref

router = APIRouter()
NEXT_PAGE = "X-Piggy-Next-Page"


@router.get("/api/trades")
async def trades(request: Request,
                 user_id: Annotated[UserId | None, Query(alias="userId")] = None,
                 limit: int = Query(default=100, ge=1, le=1000),
                 before: Annotated[str | None, Query(max_length=80, description=(
                     "the cursor of the previous page (its X-Piggy-Next-Page header)"))] = None,
                 since: Annotated[datetime | None, Query()] = None,
                 until: Annotated[datetime | None, Query()] = None) -> JSONResponse:
    """The trade history, newest first; a user token must name its own ``userId``."""
    who = operator_only(request) if user_id is None else authorize(request, user_id)
    try:
        cursor = Cursor.parse(before) if before else None
    except ValueError as exc:
        return JSONResponse({"detail": [{"loc": ["query", "before"], "type": "value_error",
                                         "msg": str(exc)}]}, 422)
    ctx = request.app.state.ctx
    books: Books = ctx.books
    try:
        page, known = await asyncio.to_thread(_read, books, user_id, limit, cursor, since, until)
    except BooksDatabaseError as exc:  # can't be reached or migrated: the message says which
        return JSONResponse({"ok": False, "detail": f"trade history unavailable: {exc}"}, 503,
                            headers={"Retry-After": "5"})
    except Exception as exc:  # the books database went away mid-read
        return JSONResponse({"ok": False, "detail": f"trade history unavailable: books database: "
                                                    f"{describe(exc)}"}, 503,
                            headers={"Retry-After": "5"})
    if user_id is not None and not known and who.user_id != user_id \
            and not await _has_credentials(ctx.vault, user_id):
        return JSONResponse({"ok": False, "userId": user_id,
                             "detail": f"unknown user {user_id!r}: no trades, no credentials"},
                            404)
    headers = {NEXT_PAGE: page.next.text()} if page.next else None
    return JSONResponse([line_of(order) for order in page.orders], headers=headers)


def _read(books: Books, user_id: str | None, limit: int, cursor: Cursor | None,
          since: datetime | None, until: datetime | None) -> tuple[Page, bool]:
    books.ensure_schema()
    with books.session() as session:
        page = queries.trades(session, user_id=user_id, limit=limit, before=cursor, since=since,
                              until=until)
        known = bool(page.orders) or (user_id is not None and queries.user_known(session, user_id))
    return page, known


async def _has_credentials(vault: Vault, user_id: str) -> bool:
    for exchange in EXCHANGES:
        if await vault.masked(vault_ref(user_id, exchange)) is not None:
            return True
    return False
