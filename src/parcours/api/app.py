"""The parcours web application: API, FHIR views and the French pages, in one ASGI app."""

from __future__ import annotations

from fastapi import FastAPI

from parcours import __version__


def create_app() -> FastAPI:
    app = FastAPI(
        title="parcours",
        version=__version__,
        description="Parcours de soins coordonnés : règles, remboursements, coordination, dossier partagé.",
    )
    return app
