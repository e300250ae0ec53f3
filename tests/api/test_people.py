"""Patients and professionals through the API: valid identifiers only, duplicates refused, lists paged."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import People, error_fields, new_nir


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
