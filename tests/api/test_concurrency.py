"""Two declarations racing for the same patient leave exactly one active médecin traitant (PostgreSQL, real
concurrent transactions; the row lock and the partial unique index both stand in the way)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from parcours.care import declarations
from parcours.care.errors import CareError
from parcours.store.db import Database
from parcours.store.models import GpDeclaration
from tests.api.conftest import People


def test_racing_declarations_leave_one_active_gp(database: Database, people: People) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL (SQLite serialises writers)")
    patient = people.patient()
    doctors = [people.professional() for _ in range(6)]
    barrier = threading.Barrier(len(doctors))
    outcomes: list[str] = []

    def declare(rpps: str) -> None:
        barrier.wait()
        try:
            with database.unit_of_work() as session:
                declarations.declare(
                    session,
                    declarations.DeclarationIn(
                        patient_id=patient["id"], professional_rpps=rpps, start=dt.date(2026, 3, 1)
                    ),
                )
            outcomes.append("declared")
        except CareError as error:
            outcomes.append(error.kind)

    threads = [threading.Thread(target=declare, args=(d["rpps"],)) for d in doctors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with database.unit_of_work() as session:
        rows = list(session.scalars(select(GpDeclaration).where(GpDeclaration.patient_id == patient["id"])))
    active = [row for row in rows if row.end is None]
    assert len(active) == 1
    assert len(rows) == outcomes.count("declared")
    assert all(row.end == dt.date(2026, 3, 1) for row in rows if row.end is not None)
