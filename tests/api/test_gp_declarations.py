"""Médecin traitant declarations: effect at once, the previous one ends, one active per patient, minors through a
parent, a doctor who retires, who was the MT on a date; never a start in the future, a start in the past only for a
paper form received late; the patient's consent given before the start."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from parcours.care import declarations
from parcours.care.errors import CareError
from parcours.rules.params import default_parameters
from parcours.store.db import Database
from parcours.store.models import GpDeclaration
from tests.api.conftest import People, error_fields, new_nir
from tests.api.history import days_ago, declared_since
from tests.conftest import Tokens

TODAY = dt.date.today()
LATE = default_parameters().at(TODAY)["coordination.declaration.late_registration_days"]


def test_a_new_declaration_ends_the_previous_one(client: TestClient, people: People, database: Database) -> None:
    patient, first, second = people.patient(), people.professional(), people.professional()
    declared_since(database, patient, first, days_ago(400))
    response = people.declare(patient, second)
    assert response.status_code == 201, response.text
    assert response.json()["start"] == TODAY.isoformat()
    history = client.get(f"/api/patients/{patient['id']}/declarations").json()
    assert [(d["professional"]["rpps"], d["start"], d["end"], d["end_reason"]) for d in history] == [
        (first["rpps"], days_ago(400), TODAY.isoformat(), "replaced"),
        (second["rpps"], TODAY.isoformat(), None, None),
    ]


def test_who_was_the_gp_on_a_date(client: TestClient, people: People, database: Database) -> None:
    patient, first, second = people.patient(), people.professional(), people.professional()
    declared_since(database, patient, first, days_ago(400))
    declared_since(database, patient, second, days_ago(100))
    url = f"/api/patients/{patient['id']}/gp"
    assert client.get(url, params={"on": days_ago(101)}).json()["professional"]["rpps"] == first["rpps"]
    assert client.get(url, params={"on": days_ago(100)}).json()["professional"]["rpps"] == second["rpps"]
    before = client.get(url, params={"on": days_ago(401)})
    assert before.status_code == 404
    assert error_fields(before) == ["on"]


def test_a_start_in_the_future_is_refused_and_the_current_gp_stays(
    client: TestClient, people: People, tokens: Tokens
) -> None:
    patient, current, future = people.patient(), people.professional(), people.professional()
    assert people.declare(patient, current).status_code == 201
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    refused = people.declare(patient, future, tomorrow)
    assert refused.status_code == 422
    assert error_fields(refused) == ["start"]
    assert client.get(f"/api/patients/{patient['id']}/gp").json()["professional"]["rpps"] == current["rpps"]
    # the would-be MT gained nothing: the patient is not theirs
    assert (
        client.get(f"/api/professionals/{future['id']}/patients", headers=tokens.professional(future["rpps"])).json()
        == []
    )


def test_a_paper_form_received_late_takes_effect_on_its_date_of_receipt(client: TestClient, people: People) -> None:
    patient, doctor = people.patient(), people.professional()
    received = (TODAY - dt.timedelta(days=LATE)).isoformat()
    signed = dt.datetime.combine(TODAY - dt.timedelta(days=LATE + 3), dt.time(10), dt.UTC).isoformat()
    accepted = people.declare(patient, doctor, received, consent_at=signed)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["start"] == received
    too_old = people.declare(
        people.patient(), doctor, (TODAY - dt.timedelta(days=LATE + 1)).isoformat(), consent_at=signed
    )
    assert too_old.status_code == 422
    assert error_fields(too_old) == ["start"]


def test_consent_comes_before_the_start(people: People) -> None:
    patient, doctor = people.patient(), people.professional()
    start = dt.date.today() - dt.timedelta(days=5)
    after_start = dt.datetime.combine(start + dt.timedelta(days=2), dt.time(10), dt.UTC).isoformat()
    response = people.declare(patient, doctor, start.isoformat(), consent_at=after_start)
    assert response.status_code == 422
    assert error_fields(response) == ["consent_at"]


def test_consent_is_required_and_never_in_the_future(database: Database, people: People) -> None:
    patient, doctor = people.patient(), people.professional()
    with pytest.raises(ValueError, match="consent_at"):
        declarations.DeclarationIn.model_validate({"patient_id": patient["id"], "professional_rpps": doctor["rpps"]})
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    with pytest.raises(CareError) as error, database.unit_of_work() as session:
        declarations.declare(
            session,
            declarations.DeclarationIn(patient_id=patient["id"], professional_rpps=doctor["rpps"], consent_at=later),
        )
    assert error.value.field == "consent_at"


def test_consent_is_returned_with_its_time_zone(client: TestClient, people: People) -> None:
    patient, doctor = people.patient(), people.professional()
    created = people.declare(patient, doctor).json()
    [read] = client.get(f"/api/patients/{patient['id']}/declarations").json()
    assert created["consent_at"] == read["consent_at"]
    assert dt.datetime.fromisoformat(read["consent_at"]).utcoffset() == dt.timedelta(0)


def test_declaring_the_same_doctor_twice_is_a_conflict(people: People) -> None:
    patient, doctor = people.patient(), people.professional()
    people.declare(patient, doctor)
    response = people.declare(patient, doctor)
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
    parent = new_nir(sex="2", year="80", month="01")
    accepted = people.declare(child, doctor, representative_nir=parent)
    assert accepted.status_code == 201, accepted.text
    assert (accepted.json()["declared_by"], accepted.json()["representative_nir"]) == ("representative", parent)


def test_a_retiring_doctor_ends_every_declaration_and_lists_the_patients(
    client: TestClient, people: People, database: Database
) -> None:
    doctor, other = people.professional(), people.professional()
    mine = [people.patient(), people.patient()]
    theirs = people.patient()
    for patient in mine:
        declared_since(database, patient, doctor, days_ago(300))
    people.declare(theirs, other)
    response = client.post(f"/api/professionals/{doctor['id']}/gp-end", json={"on": days_ago(10)})
    assert response.status_code == 200
    assert sorted(p["id"] for p in response.json()) == sorted(p["id"] for p in mine)
    assert client.get(f"/api/patients/{mine[0]['id']}/gp", params={"on": days_ago(9)}).status_code == 404
    assert client.get(f"/api/patients/{mine[0]['id']}/gp", params={"on": days_ago(11)}).status_code == 200
    assert client.get(f"/api/professionals/{doctor['id']}").json()["active"] is False
    assert client.get(f"/api/professionals/{other['id']}/patients").json()[0]["id"] == theirs["id"]


def test_a_retirement_shows_in_the_access_history_of_each_patient_concerned(
    client: TestClient, people: People, database: Database
) -> None:
    doctor, other = people.professional(), people.professional()
    mine, theirs = people.patient(), people.patient()
    declared_since(database, mine, doctor, days_ago(300))
    people.declare(theirs, other)
    assert client.post(f"/api/professionals/{doctor['id']}/gp-end", json={}).status_code == 200

    def ends(patient: dict[str, Any]) -> list[dict[str, Any]]:
        history = client.get(f"/api/record/{patient['id']}/access-history").json()["items"]
        return [e for e in history if e["operation"] == "patient.declaration.end"]

    assert [e["detail"] for e in ends(mine)] == ["fin de la déclaration : départ en retraite du médecin"]
    assert ends(theirs) == []


def test_an_announced_retirement_keeps_the_gp_in_force_until_its_date(
    client: TestClient, people: People, tokens: Tokens
) -> None:
    doctor, successor, patient = people.professional(), people.professional(), people.patient()
    people.declare(patient, doctor)
    later = (TODAY + dt.timedelta(days=30)).isoformat()
    assert client.post(f"/api/professionals/{doctor['id']}/gp-end", json={"on": later}).status_code == 200
    as_doctor = tokens.professional(doctor["rpps"])
    # still the MT today: the list, the date query and the right to read the patient's file agree
    assert [p["id"] for p in client.get(f"/api/professionals/{doctor['id']}/patients", headers=as_doctor).json()] == [
        patient["id"]
    ]
    assert client.get(f"/api/patients/{patient['id']}/gp").json()["professional"]["rpps"] == doctor["rpps"]
    assert client.get(f"/api/patients/{patient['id']}", headers=as_doctor).status_code == 200
    # the patient chooses a successor at once: the declaration ending later is ended today
    assert people.declare(patient, successor).status_code == 201
    history = client.get(f"/api/patients/{patient['id']}/declarations").json()
    assert [(d["end"], d["end_reason"]) for d in history] == [(TODAY.isoformat(), "replaced"), (None, None)]


def test_the_database_refuses_a_second_active_declaration(database: Database, people: People) -> None:
    patient, first, second = people.patient(), people.professional(), people.professional()
    people.declare(patient, first)
    with pytest.raises(IntegrityError), database.unit_of_work() as session:
        session.add(
            GpDeclaration(
                patient_id=patient["id"],
                professional_id=second["id"],
                start=TODAY,
                consent_at=dt.datetime.now(dt.UTC),
            )
        )
