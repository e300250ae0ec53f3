"""Médecin traitant declarations: effect at once, the previous one ends, one active per patient, minors through a
parent, a doctor who retires, who was the MT on a date."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from parcours.store.db import Database
from parcours.store.models import GpDeclaration
from tests.api.conftest import People, error_fields, new_nir


def test_a_new_declaration_ends_the_previous_one(client: TestClient, people: People) -> None:
    patient, first, second = people.patient(), people.professional(), people.professional()
    assert people.declare(patient, first, "2025-01-06").status_code == 201
    assert people.declare(patient, second, "2026-02-01").status_code == 201
    history = client.get(f"/api/patients/{patient['id']}/declarations").json()
    assert [(d["professional"]["rpps"], d["start"], d["end"], d["end_reason"]) for d in history] == [
        (first["rpps"], "2025-01-06", "2026-02-01", "replaced"),
        (second["rpps"], "2026-02-01", None, None),
    ]


def test_who_was_the_gp_on_a_date(client: TestClient, people: People) -> None:
    patient, first, second = people.patient(), people.professional(), people.professional()
    people.declare(patient, first, "2025-01-06")
    people.declare(patient, second, "2026-02-01")
    url = f"/api/patients/{patient['id']}/gp"
    assert client.get(url, params={"on": "2025-12-31"}).json()["professional"]["rpps"] == first["rpps"]
    assert client.get(url, params={"on": "2026-02-01"}).json()["professional"]["rpps"] == second["rpps"]
    before = client.get(url, params={"on": "2024-12-31"})
    assert before.status_code == 404
    assert error_fields(before) == ["on"]


def test_declaring_the_same_doctor_twice_is_a_conflict(people: People) -> None:
    patient, doctor = people.patient(), people.professional()
    people.declare(patient, doctor)
    response = people.declare(patient, doctor, "2025-06-01")
    assert response.status_code == 409
    assert error_fields(response) == ["professional_rpps"]


def test_a_nurse_cannot_be_declared_gp(people: People) -> None:
    patient = people.patient()
    nurse = people.professional(specialty=None, profession="nurse")
    response = people.declare(patient, nurse)
    assert response.status_code == 422
    assert error_fields(response) == ["professional_rpps"]


def test_a_minor_is_declared_by_a_parent(people: People) -> None:
    child = people.patient(birth_date="2015-06-01")
    doctor = people.professional(specialty="pediatrics")
    refused = people.declare(child, doctor)
    assert refused.status_code == 422
    assert error_fields(refused) == ["representative_nir"]
    parent = new_nir(sex="2", year="80", month="01")
    accepted = people.declare(child, doctor, representative_nir=parent)
    assert accepted.status_code == 201
    assert (accepted.json()["declared_by"], accepted.json()["representative_nir"]) == ("representative", parent)


def test_a_retiring_doctor_ends_every_declaration_and_lists_the_patients(client: TestClient, people: People) -> None:
    doctor, other = people.professional(), people.professional()
    mine = [people.patient(), people.patient()]
    theirs = people.patient()
    for patient in mine:
        people.declare(patient, doctor)
    people.declare(theirs, other)
    response = client.post(f"/api/professionals/{doctor['id']}/gp-end", json={"on": "2026-06-30"})
    assert response.status_code == 200
    assert sorted(p["id"] for p in response.json()) == sorted(p["id"] for p in mine)
    assert client.get(f"/api/patients/{mine[0]['id']}/gp", params={"on": "2026-07-01"}).status_code == 404
    assert client.get(f"/api/professionals/{doctor['id']}").json()["active"] is False
    assert client.get(f"/api/professionals/{other['id']}/patients").json()[0]["id"] == theirs["id"]


def test_the_database_refuses_a_second_active_declaration(database: Database, people: People) -> None:
    patient, first, second = people.patient(), people.professional(), people.professional()
    people.declare(patient, first)
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        session.add(
            GpDeclaration(
                patient_id=patient["id"],
                professional_id=second["id"],
                start=dt.date(2026, 1, 1),
                consent_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            )
        )
