"""Dependencies shared by the routers: the database of the application, one unit of work per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.orm import Session

from parcours.store.db import Database


async def get_database(request: Request) -> Database:
    """Async: an attribute read, no reason to hop to a worker thread (FastAPI runs sync dependencies in one)."""
    database: Database = request.app.state.database
    return database


def get_session(database: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """The request's session, in one transaction: committed when the handler returns, rolled back if it raises."""
    with database.unit_of_work() as session:
        yield session


# "function" scope: the transaction commits before the response leaves, so a 2xx means the data is written.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
# paging bounds: an offset past 2^31 - 1 pages nothing real and overflows the database's integers (a 500 before)
MAX_OFFSET = 2**31 - 1
MAX_LIMIT = 200
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Position du premier élément")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Nombre d'éléments par page")]
