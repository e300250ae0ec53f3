"""The parcours web application: API, FHIR views and the French pages, in one ASGI app."""

from __future__ import annotations

from fastapi import FastAPI

from parcours import __version__
from parcours.api.errors import install_errors
from parcours.api.routers import coordination, people, record
from parcours.api.security import AuthSettings, install_security
from parcours.settings import WebSettings, get_settings
from parcours.store.db import Database
from parcours.web import pages, spaces


def create_app(
    database: Database | None = None, auth: AuthSettings | None = None, web: WebSettings | None = None
) -> FastAPI:
    """The application over ``database`` (by default the one of ``PARCOURS_DATABASE_URL``, already migrated).
    Every route but ``/health`` and ``/fhir/metadata`` requires a bearer token (``auth``: ``PARCOURS_AUTH_*``)."""
    app = FastAPI(
        title="parcours",
        version=__version__,
        description="Parcours de soins coordonnés : règles, remboursements, coordination, dossier partagé.",
    )
    if database is None:
        settings = get_settings()
        database = Database(settings.database_url, echo=settings.database_echo)
    app.state.database = database
    install_errors(app)
    install_security(app, auth)
    app.include_router(people.router)
    app.include_router(coordination.router)
    record.install(app)
    pages.install(app)
    spaces.install(app, web)  # the signed-in spaces (``web``: ``PARCOURS_WEB_*``)
    from parcours.api.fhir.server import fhir_server

    fhir_server().install(app)

    @app.get("/health", tags=["service"], summary="État du service")
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
