"""The baseline of the HTTP benchmark: a bare FastAPI endpoint that validates a claim-shaped body and answers, with
no database and no rules, served the same way as parcours (uvicorn, same workers)."""

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

    return app
