"""Patients and professionals through the API: valid identifiers only, duplicates refused, lists paged."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from tests.api.conftest import People, error_fields, new_nir
from tests.conftest import Tokens


def test_patient_with_a_wrong_nir_key_is_refused_naming_the_field(client: TestClient) -> None:
    nir = new_nir()
    wrong = nir[:-2] + f"{(int(nir[-2:]) + 1) % 97:02d}"
    body = {"nir": wrong, "family_name": "A", "given_name": "B", "birth_date": "1985-04-12", "sex": "male"}
    response = client.post("/api/patients", json=body)
    assert response.status_code == 422
    assert error_fields(response) == ["nir"]
    assert "clé" in response.json()["detail"][0]["message"]


def test_corsican_nir_is_accepted(client: TestClient) -> None:
    from parcours.rules.identifiers import nir_with_key

    nir = nir_with_key("18504" + "2A" + "004123")
    body = {"nir": nir, "family_name": "Santoni", "given_name": "Ghjuvan", "birth_date": "1985-04-12", "sex": "male"}
    assert client.post("/api/patients", json=body).status_code == 201


def test_duplicate_nir_is_a_conflict(client: TestClient, people: People) -> None:
    patient = people.patient()
    body = {"nir": patient["nir"], "family_name": "X", "given_name": "Y", "birth_date": "1985-04-12", "sex": "male"}
    response = client.post("/api/patients", json=body)
    assert response.status_code == 409
    assert error_fields(response) == ["nir"]


def test_professional_with_a_wrong_rpps_check_digit_is_refused(client: TestClient) -> None:
    body = {"rpps": "10101010106", "family_name": "A", "given_name": "B", "specialty": "general_practice"}
    response = client.post("/api/professionals", json=body)
    assert response.status_code == 422
    assert error_fields(response) == ["rpps"]


def test_a_physician_needs_a_specialty(client: TestClient) -> None:
    from tests.api.conftest import new_rpps

    response = client.post("/api/professionals", json={"rpps": new_rpps(), "family_name": "A", "given_name": "B"})
    assert response.status_code == 422


def test_patients_are_listed_by_page(client: TestClient, people: People) -> None:
    for _ in range(3):
        people.patient()
    page = client.get("/api/patients", params={"limit": 2}).json()
    assert (page["total"], len(page["items"])) == (3, 2)
    rest = client.get("/api/patients", params={"limit": 2, "offset": 2}).json()
    assert len(rest["items"]) == 1


def test_coverage_is_updated(client: TestClient, people: People) -> None:
    patient = people.patient()
    coverage = {"c2s": True, "ald": [{"label": "Diabète de type 2", "start": "2024-02-01"}]}
    response = client.put(f"/api/patients/{patient['id']}/coverage", json=coverage)
    assert response.status_code == 200
    assert response.json()["c2s"] is True
    assert response.json()["ald_periods"][0]["label"] == "Diabète de type 2"


def _patient(nir: str, birth_date: str = "1985-04-12", sex: str = "male", **fields: object) -> dict[str, object]:
    return {"nir": nir, "family_name": "Durand", "given_name": "Paul", "birth_date": birth_date, "sex": sex, **fields}


def test_the_nir_must_agree_with_the_sex(client: TestClient) -> None:
    response = client.post("/api/patients", json=_patient(new_nir(sex="1"), sex="female"))
    assert response.status_code == 422
    assert error_fields(response) == ["sex"]
    assert client.post("/api/patients", json=_patient(new_nir(sex="2"), sex="female")).status_code == 201
    # "other" and "unknown" say nothing the NIR could contradict
    assert client.post("/api/patients", json=_patient(new_nir(sex="2"), sex="unknown")).status_code == 201


def test_the_nir_must_agree_with_the_birth_year_and_month(client: TestClient) -> None:
    wrong_year = client.post("/api/patients", json=_patient(new_nir(year="86"), birth_date="1985-04-12"))
    assert (wrong_year.status_code, error_fields(wrong_year)) == (422, ["birth_date"])
    wrong_month = client.post("/api/patients", json=_patient(new_nir(month="05"), birth_date="1985-04-12"))
    assert (wrong_month.status_code, error_fields(wrong_month)) == (422, ["birth_date"])
    no_such_month = client.post("/api/patients", json=_patient(new_nir(month="15"), birth_date="1985-04-12"))
    assert (no_such_month.status_code, error_fields(no_such_month)) == (422, ["nir"])


def test_a_nir_with_an_unknown_birth_month_is_accepted(client: TestClient) -> None:
    # INSEE: a month of 20 or more stands for an unknown month of birth
    for month in ("20", "42", "99"):
        response = client.post("/api/patients", json=_patient(new_nir(month=month), birth_date="1985-07-01"))
        assert response.status_code == 201, response.text


def test_the_mutuelle_contract_must_be_one_of_the_catalogue(client: TestClient, people: People) -> None:
    from parcours.rules.contracts.model import catalogue_names

    unknown = client.post("/api/patients", json=_patient(new_nir(), mutuelle_contract="platine"))
    assert (unknown.status_code, error_fields(unknown)) == (422, ["mutuelle_contract"])
    known = catalogue_names()[0]
    assert client.post("/api/patients", json=_patient(new_nir(), mutuelle_contract=known)).status_code == 201
    patient = people.patient()
    update = client.put(f"/api/patients/{patient['id']}/coverage", json={"mutuelle_contract": "platine"})
    assert (update.status_code, error_fields(update)) == (422, ["mutuelle_contract"])


def test_an_administrator_registers_a_fictitious_person_with_the_demo_oid(client: TestClient, tokens: Tokens) -> None:
    demo = "urn:oid:1.2.250.1.213.1.4.11"
    created = client.post("/api/patients", json=_patient(new_nir(), nir_system=demo), headers=tokens.admin())
    assert (created.status_code, created.json()["nir_system"]) == (201, demo)
    fhir = client.get("/fhir/Patient", params={"identifier": f"{demo}|{created.json()['nir']}"}).json()
    assert fhir["total"] == 1
    other = client.post("/api/patients", json=_patient(new_nir(), nir_system="urn:oid:1.2.250.1.213.1.4.8"))
    assert (other.status_code, error_fields(other)) == (422, ["nir_system"])
    by_agent = client.post(
        "/api/patients", json=_patient(new_nir(), nir_system="urn:oid:1.2.250.1.213.1.4.10"), headers=tokens.agent()
    )
    assert by_agent.status_code == 403


@given(
    birth=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2026, 12, 31)),
    sex=st.sampled_from(["male", "female"]),
    other_month=st.integers(min_value=1, max_value=12),
)
def test_a_nir_agrees_with_the_person_it_was_made_for_and_with_no_other_month(
    birth: dt.date, sex: str, other_month: int
) -> None:
    from parcours.care.errors import CareError
    from parcours.care.people import check_nir_against_person
    from parcours.rules.identifiers import nir_with_key

    nir = nir_with_key(f"{1 if sex == 'male' else 2}{birth:%y}{birth:%m}75123456")
    check_nir_against_person(nir, sex, birth)  # never raises for the person it spells
    if other_month != birth.month:
        with pytest.raises(CareError) as error:
            check_nir_against_person(nir, sex, birth.replace(month=other_month, day=1))
        assert error.value.field == "birth_date"
    with pytest.raises(CareError) as wrong_sex:
        check_nir_against_person(nir, "female" if sex == "male" else "male", birth)
    assert wrong_sex.value.field == "sex"
