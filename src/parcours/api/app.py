"""The parcours web application: API, FHIR views and the French pages, in one ASGI app."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from fastapi import FastAPI
from fastapi.responses import Response

from parcours import __version__
from parcours.api.errors import install_errors, register_error_renderer
from parcours.api.middleware import RequestGuard, RequestLimits
from parcours.api.routers import coordination, people, record
from parcours.api.security import AuthSettings, install_security
from parcours.errors import FieldError
from parcours.settings import WebSettings, get_settings
from parcours.store.db import Database
from parcours.web import pages, spaces


def create_app(
    database: Database | None = None,
    auth: AuthSettings | None = None,
    *,
    web: WebSettings | None = None,
    limits: RequestLimits | None = None,
) -> FastAPI:
    """The application over ``database`` (by default the one of ``PARCOURS_DATABASE_URL``, already migrated).
    Every route but ``/health`` and ``/fhir/metadata`` requires a bearer token (``auth``: ``PARCOURS_AUTH_*``).
    ``limits``: request size and depth (``PARCOURS_MAX_*``)."""
    app = FastAPI(
        title="parcours",
        version=__version__,
        description="Parcours de soins coordonnés : règles, remboursements, coordination, dossier partagé.",
    )
    settings = get_settings()
    if database is None:
        database = Database(settings.database_url, echo=settings.database_echo)
    app.state.database = database
    app.state.limits = limits or RequestLimits.of(settings)
    install_errors(app)
    install_security(app, auth)
    app.include_router(people.router)
    app.include_router(coordination.router)
    record.install(app)
    pages.install(app)
    spaces.install(app, web)  # the signed-in spaces (``web``: ``PARCOURS_WEB_*``)
    from parcours.api.fhir.server import fhir_server

    fhir_server().install(app)
    _install_fhir_error_renderer(app)
    app.add_middleware(RequestGuard, limits=app.state.limits)
    from parcours.api.openapi import install_openapi

    install_openapi(app)

    @app.get("/health", tags=["service"], summary="État du service")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


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
