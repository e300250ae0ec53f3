"""The baseline of the HTTP benchmarks: bare FastAPI endpoints on the paths parcours serves, validating the same
request (a claim-shaped body, a patient in the path, a search parameter) and answering a small JSON, with no
database, no token check and no rules, served the same way as parcours (uvicorn, same workers)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel


class Body(BaseModel):
    idempotency_key: str
    patient_id: str
    professional_rpps: str
    date: str
    acts: list[dict[str, Any]]


def create_app() -> FastAPI:
    app = FastAPI()

    @app.post("/api/claims", status_code=201)
    def echo(body: Body) -> dict[str, Any]:
        return {"id": body.idempotency_key, "amo": 19.0, "acts": len(body.acts)}

    @app.get("/api/record/{patient}/entries")
    def entries(patient: str, offset: int = 0, limit: int = 50) -> dict[str, Any]:
        return {"items": [{"patient": patient, "title": "Synthèse"}], "total": 1, "offset": offset, "limit": limit}

    @app.get("/fhir/{resource_type}")
    def search(resource_type: str, identifier: str | None = None, patient: str | None = None) -> dict[str, Any]:
        entry = {"resource": {"resourceType": resource_type, "identifier": identifier, "patient": patient}}
        return {"resourceType": "Bundle", "type": "searchset", "total": 1, "entry": [entry]}

    return app
