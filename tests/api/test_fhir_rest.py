"""The FHIR REST layer on its own: capability statement, read, searchset paging, OperationOutcome errors.

The provider here is a real in-memory one (a list of Patients), enough to exercise what every provider shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient

from parcours.api.fhir.rest import FHIR_JSON, FhirResponse, FhirServer, Page, SearchParameter, SearchQuery, to_json

NIR = "urn:oid:1.2.250.1.213.1.4.8"


@dataclass
class ListOfPatients:
    patients: list[Patient]
    resource_type: str = "Patient"
    profile: str | None = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"
    search_parameters: tuple[SearchParameter, ...] = (
        SearchParameter("identifier", "token", "NIR : system|value"),
        SearchParameter("general-practitioner", "reference", "Médecin traitant"),
    )

    def read(self, ctx: Any, resource_id: str) -> Patient | None:
        return next((p for p in self.patients if p.id == resource_id), None)

    def search(self, ctx: Any, query: SearchQuery) -> Page:
        token = query.token("identifier")
        gp = query.reference("general-practitioner", "Practitioner")
        found = [
            p
            for p in self.patients
            if (
                token is None
                or any(i.value == token.code and token.system in (None, i.system) for i in p.identifier or [])
            )
            and (gp is None or any(ref.reference == f"Practitioner/{gp}" for ref in p.generalPractitioner or []))
        ]
        return Page(found[query.offset : query.offset + query.count], len(found))


def patient(index: int) -> Patient:
    return Patient.model_validate(
        {
            "resourceType": "Patient",
            "id": f"p{index}",
            "identifier": [{"system": NIR, "value": f"18501750{index:05d}"}],
            "generalPractitioner": [{"reference": "Practitioner/d1" if index % 2 else "Practitioner/d2"}],
        }
    )


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    server: FhirServer[Any] = FhirServer(context=lambda: None)
    server.register(ListOfPatients([patient(i) for i in range(5)]))
    server.install(app)
    return TestClient(app)


def test_metadata_is_a_capability_statement_listing_the_providers(client: TestClient) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    statement = CapabilityStatement.model_validate(response.json())
    assert statement.fhirVersion == "4.3.0"
    [rest] = statement.rest
    [resource] = rest.resource
    assert resource.type == "Patient"
    assert [p.name for p in resource.searchParam] == ["identifier", "general-practitioner"]


def test_read_returns_the_resource(client: TestClient) -> None:
    response = client.get("/fhir/Patient/p3")
    assert response.status_code == 200
    assert Patient.model_validate(response.json()).identifier[0].value == "1850175000003"


def test_read_of_an_unknown_id_is_an_operation_outcome_404(client: TestClient) -> None:
    response = client.get("/fhir/Patient/nope")
    assert response.status_code == 404
    outcome = OperationOutcome.model_validate(response.json())
    assert outcome.issue[0].code == "not-found"


def test_unknown_resource_type_is_not_supported(client: TestClient) -> None:
    response = client.get("/fhir/Observation")
    assert response.status_code == 404
    assert OperationOutcome.model_validate(response.json()).issue[0].code == "not-supported"


def test_search_by_identifier_system_and_value(client: TestClient) -> None:
    response = client.get("/fhir/Patient", params={"identifier": f"{NIR}|1850175000002"})
    bundle = Bundle.model_validate(response.json())
    assert (bundle.type, bundle.total) == ("searchset", 1)
    assert bundle.entry[0].resource.id == "p2"
    assert bundle.entry[0].fullUrl.endswith("/fhir/Patient/p2")


def test_search_with_another_system_finds_nothing(client: TestClient) -> None:
    bundle = Bundle.model_validate(client.get("/fhir/Patient", params={"identifier": "urn:x|1850175000002"}).json())
    assert bundle.total == 0
    assert not bundle.entry


def test_search_pages_with_next_and_previous_links(client: TestClient) -> None:
    first = Bundle.model_validate(client.get("/fhir/Patient", params={"_count": 2}).json())
    assert first.total == 5
    assert [e.resource.id for e in first.entry] == ["p0", "p1"]
    links = {link.relation: link.url for link in first.link}
    assert set(links) == {"self", "next"}
    second = Bundle.model_validate(client.get(links["next"]).json())
    assert [e.resource.id for e in second.entry] == ["p2", "p3"]
    assert {link.relation for link in second.link} == {"self", "next", "previous"}


@pytest.mark.parametrize(
    "params",
    [
        {"identifier": f"{NIR}|1850175000002"},  # one match
        {"identifier": "urn:x|1"},  # none: no entry at all
        {"_count": 2, "_offset": 2},  # self, next and previous links
        {"colour": "blue"},  # an ignored parameter: the OperationOutcome entry
        {"_summary": "count"},
    ],
)
def test_searchset_is_written_as_the_bundle_model_writes_it(client: TestClient, params: dict[str, Any]) -> None:
    # the Bundle is assembled from the entries' JSON without going through fhir.resources' Bundle again: byte for
    # byte what that model gives for it (elements in its order, no nulls)
    response = client.get("/fhir/Patient", params=params)
    assert response.status_code == 200
    assert response.content == FhirResponse(to_json(Bundle.model_validate(response.json()))).body


def test_reference_parameter_accepts_type_and_id(client: TestClient) -> None:
    bundle = Bundle.model_validate(
        client.get("/fhir/Patient", params={"general-practitioner": "Practitioner/d2"}).json()
    )
    assert [e.resource.id for e in bundle.entry] == ["p0", "p2", "p4"]


def test_reference_to_the_wrong_type_is_a_400(client: TestClient) -> None:
    response = client.get("/fhir/Patient", params={"general-practitioner": "Organization/d2"})
    assert response.status_code == 400
    issue = OperationOutcome.model_validate(response.json()).issue[0]
    assert issue.expression == ["general-practitioner"]


def test_unknown_parameter_is_ignored_unless_strict_handling(client: TestClient) -> None:
    assert Bundle.model_validate(client.get("/fhir/Patient", params={"colour": "blue"}).json()).total == 5
    strict = client.get("/fhir/Patient", params={"colour": "blue"}, headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert OperationOutcome.model_validate(strict.json()).issue[0].code == "not-supported"


def test_bad_count_is_a_400_naming_the_parameter(client: TestClient) -> None:
    response = client.get("/fhir/Patient", params={"_count": "many"})
    assert response.status_code == 400
    assert OperationOutcome.model_validate(response.json()).issue[0].expression == ["_count"]


def test_errors_outside_fhir_keep_fastapi_json(client: TestClient) -> None:
    response = client.get("/not-fhir")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
