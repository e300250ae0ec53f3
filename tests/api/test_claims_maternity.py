"""Maternity insurance through the API: the pregnancy recorded on the patient's coverage is read on the date of
care, so the claims of the period (from the first day of the 6th month to 12 days after delivery) are paid at 100 %
without participation, and those outside it are not (brief 2 §8, R52/R53)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from parcours.store.db import Database
from tests.api.conftest import People
from tests.api.history import declared_since
from tests.api.test_claims import body


def _pregnant_patient(client: TestClient, people: People, database: Database) -> tuple[dict[str, Any], dict[str, Any]]:
    patient, gp = people.patient("1992-06-03", sex="female"), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    coverage = {"pregnancies": [{"start": "2025-10-01", "delivery": "2026-04-10"}]}
    response = client.put(f"/api/patients/{patient['id']}/coverage", json=coverage)
    assert response.status_code == 200, response.text
    return patient, gp


def _claim(client: TestClient, patient: dict[str, Any], gp: dict[str, Any], date: str) -> dict[str, Any]:
    response = client.post("/api/claims", json=body(patient, gp, date, f"maternity-{patient['id'][:8]}-{date}"))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_maternity_period_opens_on_the_first_day_of_the_sixth_month(
    client: TestClient, people: People, database: Database
) -> None:
    patient, gp = _pregnant_patient(client, people, database)
    before = _claim(client, patient, gp, "2026-02-28")  # 5th month: the usual 30 € × 70 % − 2 €
    assert (before["amo"], before["patient_share"]) == (19.0, 11.0)
    first_day = _claim(client, patient, gp, "2026-03-01")  # 2025-10-01 + 5 months: 100 %, no participation
    assert (first_day["amo"], first_day["patient_share"]) == (30.0, 0.0)
    explanation = " ".join(step["text"] for step in first_day["adjudication"]["explanation"])
    assert "maternité" in explanation


def test_the_maternity_period_ends_twelve_days_after_delivery(
    client: TestClient, people: People, database: Database
) -> None:
    patient, gp = _pregnant_patient(client, people, database)
    last_day = _claim(client, patient, gp, "2026-04-22")  # delivery 2026-04-10 + 12 days
    assert (last_day["amo"], last_day["patient_share"]) == (30.0, 0.0)
    after = _claim(client, patient, gp, "2026-04-23")
    assert (after["amo"], after["patient_share"]) == (19.0, 11.0)
