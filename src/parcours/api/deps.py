"""Dependencies shared by the routers: the database of the application, one unit of work per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio.to_thread
from anyio import CancelScope, CapacityLimiter
from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from parcours.store.db import Database


async def get_database(request: Request) -> Database:
    """Async: an attribute read, no reason to hop to a worker thread (FastAPI runs sync dependencies in one)."""
    database: Database = request.app.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_session(database: DatabaseDep) -> AsyncIterator[Session]:
    """The request's session, in one transaction: committed when the handler returns, rolled back if it raises.
    Opened in the event loop (no I/O: the connection is checked out at the first statement, in the handler's
    thread), ended in a worker thread (the commit is a round trip): a sync dependency would take a thread for each,
    and a hop to a worker thread costs a tenth of a claim's CPU. The end runs under a limiter of its own, as FastAPI
    runs a sync dependency's: it must not wait for a thread held by a handler that waits for a connection."""
    work = database.unit_of_work()
    session = work.__enter__()
    try:
        yield session
    except BaseException as error:
        with CancelScope(shield=True):
            if not await anyio.to_thread.run_sync(work.__exit__, type(error), error, error.__traceback__,
                                                  limiter=CapacityLimiter(1)):  # fmt: skip
                raise
    else:
        with CancelScope(shield=True):
            await anyio.to_thread.run_sync(work.__exit__, None, None, None, limiter=CapacityLimiter(1))


# "function" scope: the transaction commits before the response leaves, so a 2xx means the data is written.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
# paging bounds: an offset past 2^31 - 1 pages nothing real and overflows the database's integers (a 500 before)
MAX_OFFSET = 2**31 - 1
MAX_LIMIT = 200
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Position du premier élément")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Nombre d'éléments par page")]
