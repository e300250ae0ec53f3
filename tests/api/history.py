"""The past of a patient, for tests that look up facts on a date gone by: a médecin traitant declared on a past day,
registered that day through the declaration service (as the demo data replays a town's past). The API itself only
registers declarations taking effect today, or a little earlier for a paper form received late."""

from __future__ import annotations

import datetime as dt
from typing import Any

from parcours.care import declarations
from parcours.store.db import Database


def declared_since(
    database: Database, patient: dict[str, Any], doctor: dict[str, Any], start: str, **fields: Any
) -> dict[str, Any]:
    day = dt.date.fromisoformat(start)
    with database.unit_of_work() as session:
        row = declarations.declare(
            session,
            declarations.DeclarationIn(
                patient_id=patient["id"],
                professional_rpps=doctor["rpps"],
                start=day,
                consent_at=dt.datetime.combine(day, dt.time(9), dt.UTC),
                **fields,
            ),
            registered_on=day,
        )
        return {"id": row.id, "start": row.start.isoformat()}


def days_ago(days: int) -> str:
    return (dt.date.today() - dt.timedelta(days=days)).isoformat()
