"""Record entries are refused when they break an R4 invariant, with a 422 naming the element (JSON API) or an
OperationOutcome-shaped error; the stored ones stay valid R4 (issue 12)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.conftest import People
from tests.conftest import Tokens


def test_an_allergy_without_clinical_status_is_refused_naming_it(
    client: TestClient, people: People, tokens: Tokens
) -> None:
    patient = people.patient()
    gp = people.professional()
    people.declare(patient, gp)
    headers = tokens.professional(gp["rpps"])
    allergy = {"resourceType": "AllergyIntolerance", "code": {"text": "Pénicilline"}}
    refused = client.post(f"/api/record/{patient['id']}/entries", json=allergy, headers=headers)
    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["field"] == "clinicalStatus"
    assert "ait-1" in error["message"]
    assert client.get(f"/api/record/{patient['id']}/entries", headers=headers).json()["total"] == 0
    status = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                          "code": "active"}]}  # fmt: skip
    stored = client.post(f"/api/record/{patient['id']}/entries", json={**allergy, "clinicalStatus": status},
                         headers=headers)  # fmt: skip
    assert stored.status_code == 201, stored.text
