"""How many SQL statements one submitted claim costs through the HTTP API (issue 12, "claims at the speed of a real
service"): counted with a SQLAlchemy event listener on the engine, a count and not a timing, so that a change
adding round trips to the claim path shows here. The bound is today's figure; lower it as the path gets leaner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from parcours.store.db import Database
from tests.api.conftest import People
from tests.api.history import declared_since

# statements of one POST /api/claims: the patient read and locked by the access check with the access decision's
# facts in the same statement (``SELECT … FOR UPDATE OF patients``; were two statements), then in one the replay look-up, the professional and the facts on the date of care (declaration, referral, ALD,
# pregnancy, last visit, last optical equipment, tiers-payant debts) with the year's paid lines grouped, the claim
# and its lines, the year-to-date row updated in place (was 16: the facts took 5 statements, the year-to-date sums
# 6, the year-to-date row a read and an update; then 10: the patient read twice, the replay, the professional and
# the year's lines apart; then 7: the replay and the professional apart from the facts). On PostgreSQL the claim,
# its lines and the year-to-date row's growth are one statement (data-modifying CTEs, which SQLite has not): 3.
MAX_STATEMENTS_PER_CLAIM = {"sqlite": 5, "postgresql": 3}


@contextmanager
def counted(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(database.engine, "before_cursor_execute", count)


def test_one_claim_costs_a_bounded_number_of_statements(client: TestClient, people: People, database: Database) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    body = {"patient_id": patient["id"], "professional_rpps": gp["rpps"], "date": "2026-03-02",
            "acts": [{"code": "G", "fee": 30.0}]}  # fmt: skip
    assert client.post("/api/claims", json={**body, "idempotency_key": "warm-up-0001"}).status_code == 201
    presence = people.attest(patient, gp)  # handed over at the desk, before the claim
    with counted(database) as statements:
        response = client.post("/api/claims", json={**body, "idempotency_key": "counted-0001",
                                                    "vitale_attestation": presence})  # fmt: skip
    assert response.status_code == 201, response.text
    print(f"{len(statements)} statements for one claim")  # the figure, for the report (-s)
    assert len(statements) <= MAX_STATEMENTS_PER_CLAIM[database.engine.dialect.name]
