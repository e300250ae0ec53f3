"""Races on PostgreSQL, with real concurrent transactions: two declarations for the same patient leave exactly one
active médecin traitant (the row lock, and the partial unique index even when the lock is bypassed); the same claim
sent twice at once is paid once and both senders get the same decision; concurrent tiers-payant claims of a patient
all count in their running total of debts."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from parcours.care import declarations
from parcours.care.claims import owed_on
from parcours.care.errors import CareError
from parcours.store.db import Database
from parcours.store.models import Claim, GpDeclaration, OwedTotal
from tests.api.conftest import People
from tests.conftest import Tokens


def _postgres_only(database: Database) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is proven on PostgreSQL (SQLite serialises writers)")


def _race(count: int, action: Callable[[int], None]) -> None:
    barrier = threading.Barrier(count)

    def run(n: int) -> None:
        barrier.wait()
        action(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_racing_declarations_leave_one_active_gp(database: Database, people: People) -> None:
    _postgres_only(database)
    patient = people.patient()
    doctors = [people.professional() for _ in range(6)]
    outcomes: list[str] = []
    today = dt.date.today()

    def declare(n: int) -> None:
        try:
            with database.unit_of_work() as session:
                declarations.declare(
                    session,
                    declarations.DeclarationIn(
                        patient_id=patient["id"],
                        professional_rpps=doctors[n]["rpps"],
                        consent_at=dt.datetime.now(dt.UTC),
                    ),
                )
            outcomes.append("declared")
        except CareError as error:
            outcomes.append(error.kind)

    _race(len(doctors), declare)
    with database.unit_of_work() as session:
        rows = list(session.scalars(select(GpDeclaration).where(GpDeclaration.patient_id == patient["id"])))
    active = [row for row in rows if row.end is None]
    assert len(active) == 1
    assert len(rows) == outcomes.count("declared")
    assert all(row.end == today for row in rows if row.end is not None)


def test_the_unique_index_alone_refuses_a_second_active_declaration(database: Database, people: People) -> None:
    """Two transactions insert an active declaration without the service (no row lock): the partial unique index
    makes the second wait for the first and then refuses it."""
    _postgres_only(database)
    patient = people.patient()
    doctors = [people.professional() for _ in range(2)]
    outcomes: list[str] = []

    def insert(n: int) -> None:
        try:
            with database.unit_of_work() as session:
                session.add(
                    GpDeclaration(
                        patient_id=patient["id"],
                        professional_id=doctors[n]["id"],
                        start=dt.date.today(),
                        consent_at=dt.datetime.now(dt.UTC),
                    )
                )
                session.flush()
            outcomes.append("inserted")
        except IntegrityError as error:
            outcomes.append("refused" if "uq_gp_declarations_one_active" in str(error.orig) else str(error.orig))

    _race(2, insert)
    assert sorted(outcomes) == ["inserted", "refused"]
    with database.unit_of_work() as session:
        active = session.scalar(
            select(func.count()).where(GpDeclaration.patient_id == patient["id"], GpDeclaration.end.is_(None))
        )
    assert active == 1


def test_the_same_claim_sent_twice_at_once_is_paid_once(
    client: TestClient, database: Database, people: People, tokens: Tokens
) -> None:
    _postgres_only(database)
    patient, gp = people.patient(), people.professional()
    assert people.declare(patient, gp).status_code == 201
    body: dict[str, Any] = {
        "idempotency_key": "claim-race-0001",
        "patient_id": patient["id"],
        "professional_rpps": gp["rpps"],
        "date": dt.date.today().isoformat(),
        "acts": [{"code": "G", "fee": 30.0}],
    }
    headers = tokens.professional(gp["rpps"])  # the MT: no presence attestation needed, the same body both times
    responses: list[Any] = [None, None]

    def send(n: int) -> None:
        responses[n] = client.post("/api/claims", json=body, headers=headers)

    _race(2, send)
    assert sorted(r.status_code for r in responses) == [200, 201], [r.text for r in responses]
    first, second = (r.json() for r in responses)
    assert first["id"] == second["id"]
    assert (first["amo"], first["status"]) == (second["amo"], second["status"])
    with database.unit_of_work() as session:
        assert session.scalar(select(func.count()).select_from(Claim).where(Claim.patient_id == patient["id"])) == 1


def test_concurrent_tiers_payant_claims_of_a_patient_each_add_their_debt(
    client: TestClient, database: Database, people: People, tokens: Tokens
) -> None:
    """Four claims of one patient at once, each deferring the 2 € participation (tiers payant [S12]): the running
    total holds all four (no lost update), and each claim saw the debts of those committed before it."""
    _postgres_only(database)
    patient, gp = people.patient(), people.professional()
    assert people.declare(patient, gp).status_code == 201
    headers = tokens.professional(gp["rpps"])
    responses: list[Any] = [None] * 4

    def send(n: int) -> None:
        responses[n] = client.post("/api/claims", headers=headers, json={
            "idempotency_key": f"owed-race-{n:04d}", "patient_id": patient["id"], "professional_rpps": gp["rpps"],
            "date": dt.date.today().isoformat(), "acts": [{"code": "G", "fee": 30.0}], "tiers_payant": True,
        })  # fmt: skip

    _race(4, send)
    assert [r.status_code for r in responses] == [201] * 4, [r.text for r in responses]
    with database.unit_of_work() as session:
        stored = list(session.scalars(select(Claim).where(Claim.patient_id == patient["id"])))
        total = session.get(OwedTotal, patient["id"])
        assert total is not None
        assert (total.participation, total.franchises) == (800, 0)
        assert [c.owed_participation for c in stored] == [200] * 4
        seen = sorted(c.state_before["participation_owed"] for c in stored)
        assert seen == ["0.00", "2.00", "4.00", "6.00"]
        assert owed_on(session, patient["id"], dt.date.today()) == {"participation": 800, "franchises": 0}
