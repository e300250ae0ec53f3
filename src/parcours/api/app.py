"""The parcours web application: API, FHIR views and the French pages, in one ASGI app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import cast

import anyio
from fastapi import FastAPI
from fastapi.responses import Response

from parcours import __version__
from parcours.api.errors import install_errors, register_error_renderer
from parcours.api.middleware import RequestGuard, RequestLimits
from parcours.api.routers import coordination, people, record
from parcours.api.security import AuthSettings, install_security
from parcours.errors import FieldError
from parcours.record import audit_log
from parcours.settings import WebSettings, get_settings
from parcours.store.db import Database
from parcours.web import pages, spaces


def create_app(
    database: Database | None = None,
    auth: AuthSettings | None = None,
    *,
    web: WebSettings | None = None,
    limits: RequestLimits | None = None,
    audit_sequence_seconds: float | None = None,
) -> FastAPI:
    """The application over ``database`` (by default the one of ``PARCOURS_DATABASE_URL``, already migrated).
    Every route but ``/health`` and ``/fhir/metadata`` requires a bearer token (``auth``: ``PARCOURS_AUTH_*``).
    ``limits``: request size and depth (``PARCOURS_MAX_*``). While the app runs (its lifespan), the audit sequencer
    chains pending traces every ``audit_sequence_seconds`` (``PARCOURS_AUDIT_SEQUENCE_SECONDS``; 0: never)."""
    settings = get_settings()
    if database is None:
        database = Database(settings.database_url, echo=settings.database_echo)
    every = settings.audit_sequence_seconds if audit_sequence_seconds is None else audit_sequence_seconds
    app = FastAPI(
        title="parcours",
        version=__version__,
        description="Parcours de soins coordonnés : règles, remboursements, coordination, dossier partagé.",
        lifespan=_sequencing(database, every),
    )
    app.state.database = database
    app.state.limits = limits or RequestLimits.of(settings)
    install_errors(app)
    install_security(app, auth)
    # coordination's routes first: the claims' path is matched before the people router's 20 routes are tried
    # (Starlette tries each route in turn, twice per request through FastAPI's included routers); no path of one
    # router matches a path of the other
    app.include_router(coordination.router)
    app.include_router(people.router)
    record.install(app)
    pages.install(app)
    spaces.install(app, web)  # the signed-in spaces (``web``: ``PARCOURS_WEB_*``)
    from parcours.api.fhir.server import fhir_server

    fhir_server().install(app)
    _install_fhir_error_renderer(app)
    app.add_middleware(RequestGuard, limits=app.state.limits)
    from parcours.api.openapi import install_openapi

    install_openapi(app, documented_first=[getattr(route, "path", "") for route in people.router.routes])  # as it read

    @app.get("/health", tags=["service"], summary="État du service")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


logger = logging.getLogger("parcours.audit")


def sequence_pending(database: Database) -> int:
    """One run of the audit sequencer, giving up at once when another transaction holds the head (that one chains)."""
    with database.unit_of_work() as session:
        return audit_log.sequence(session, wait=False)


def _sequencing(database: Database, every: float) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: a task that bounds how long a trace stays pending when the service falls idle (the
    requests chain what they find pending only while traffic lasts). Every worker runs one; the head's lock makes
    them take turns, and one that finds it held skips its turn."""

    async def sequence_periodically() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                # in a thread: the event loop keeps serving while the database works
                await anyio.to_thread.run_sync(sequence_pending, database)
            except Exception:  # the next turn tries again; a failing database is the requests' error to report
                logger.exception("the audit sequencer failed; it will try again in %s s", every)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(sequence_periodically()) if every > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return lifespan


def _install_fhir_error_renderer(app: FastAPI) -> None:
    """The request guard's errors (413, 422, the catch-all 500) under ``/fhir`` as OperationOutcomes."""
    from parcours.api.fhir.rest import FHIR_PREFIX, FhirResponse, IssueType, operation_outcome

    codes = {413: "too-long", 500: "exception", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict"}

    def render(status: int, errors: Sequence[FieldError], headers: Mapping[str, str] | None) -> Response:
        code = cast(IssueType, codes.get(status, "invalid"))
        issues = [(code, e.message, None if e.field.startswith("(") else e.field) for e in errors]
        # FHIR answers a request it cannot process (a bad search parameter) with 400
        return FhirResponse(operation_outcome(issues), status_code=400 if status == 422 else status,
                            headers=dict(headers or {}))  # fmt: skip

    register_error_renderer(app, FHIR_PREFIX, render)
