"""FHIR search as clients use it (issue 12): the GP's own patient list, the result parameters (``_id``,
``_summary=count``, ``_sort``, ``_elements``, ``_count=0``), what a lenient search ignored, and one answer for an
unknown patient and for somebody else's."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from parcours.api.fhir.audit_event import SERVED_TYPES, UNSERVED_SYSTEM
from parcours.api.fhir.server import fhir_server
from parcours.record.entries import INS_NIR_DEMO_SYSTEM
from tests.api.conftest import People
from tests.api.record_world import World, build_world
from tests.conftest import Tokens

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def world(client: TestClient, tokens: Tokens, people: People) -> World:
    return build_world(client, tokens, people)


def _ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle.get("entry", ()) if entry["search"]["mode"] == "match"]


def test_the_gp_searches_their_own_patients(world: World) -> None:
    gp = world.pro["gp"]
    for role in ("gp", "admin"):
        response = world.client.get(
            "/fhir/Patient", params={"general-practitioner": f"Practitioner/{gp['id']}"}, headers=world.as_(role)
        )
        assert response.status_code == 200, response.text
        assert _ids(response.json()) == [world.pid]
    other = world.client.get(
        "/fhir/Patient", params={"general-practitioner": f"Practitioner/{world.pro['spare']['id']}"},
        headers=world.as_("gp"),
    )  # fmt: skip
    assert other.json()["total"] == 0


def test_search_by_id_on_every_type(world: World) -> None:
    client, admin = world.client, world.as_("admin")
    one, two = world.pid, world.other["id"]
    found = client.get("/fhir/Patient", params={"_id": one}, headers=admin).json()
    assert (_ids(found), found["total"]) == ([one], 1)
    both = client.get("/fhir/Patient", params={"_id": f"{one},{two}"}, headers=admin).json()
    assert sorted(_ids(both)) == sorted([one, two])
    assert client.get("/fhir/Patient", params={"_id": "nobody"}, headers=admin).json()["total"] == 0
    allergy = world.entries["allergy"]
    entries = client.get("/fhir/AllergyIntolerance", params={"_id": allergy, "patient": one}, headers=world.as_("gp"))
    assert _ids(entries.json()) == [allergy]
    claims = client.get("/fhir/Claim", params={"_id": world.claim["id"]}, headers=world.as_("insurer")).json()
    assert _ids(claims) == [world.claim["id"]]
    request_id = f"referral-{world.referral['id']}"
    requests = client.get("/fhir/ServiceRequest", params={"_id": request_id, "patient": one}, headers=world.as_("gp"))
    assert _ids(requests.json()) == [request_id]
    audit = client.get("/fhir/AuditEvent", headers=admin).json()["entry"][0]["resource"]["id"]
    assert _ids(client.get("/fhir/AuditEvent", params={"_id": audit}, headers=admin).json()) == [audit]


def test_count_zero_and_summary_count_give_the_total_without_a_next_page(world: World) -> None:
    for params in ({"_count": "0"}, {"_summary": "count"}, {"_summary": "count", "_count": "1"}):
        bundle = world.client.get("/fhir/Patient", params=params, headers=world.as_("admin")).json()
        assert bundle["total"] == 2
        assert "entry" not in bundle
        assert [link["relation"] for link in bundle["link"]] == ["self"]


def test_sort_orders_the_pages(world: World, people: People) -> None:
    for name in ("Zola", "Abel", "Moreau"):
        people.patient(family_name=name)
    client, admin = world.client, world.as_("admin")

    def families(sort: str) -> list[str]:
        bundle = client.get("/fhir/Patient", params={"_sort": sort, "_count": "50"}, headers=admin).json()
        return [entry["resource"]["name"][0]["family"] for entry in bundle["entry"]]

    ascending = families("family")
    assert ascending == sorted(ascending)
    assert families("-family") == sorted(ascending, reverse=True)
    births = client.get("/fhir/Patient", params={"_sort": "-birthdate,_id"}, headers=admin).json()
    dates = [entry["resource"]["birthDate"] for entry in births["entry"]]
    assert dates == sorted(dates, reverse=True)
    assert "_sort=-birthdate%2C_id" in births["link"][0]["url"]


def test_elements_subsets_and_tags(world: World) -> None:
    bundle = world.client.get("/fhir/Patient", params={"_elements": "birthDate", "_id": world.pid},
                              headers=world.as_("admin")).json()  # fmt: skip
    resource = bundle["entry"][0]["resource"]
    assert set(resource) == {"resourceType", "id", "meta", "birthDate"}
    assert {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"} in resource[
        "meta"
    ]["tag"]
    claim = world.client.get("/fhir/Claim", params={"_elements": "total", "_id": world.claim["id"]},
                             headers=world.as_("insurer")).json()["entry"][0]["resource"]  # fmt: skip
    assert {"total", "status", "patient", "provider", "created"} <= set(claim)  # R4 mandatory elements stay
    assert "item" not in claim


def test_ignored_parameters_are_listed_in_lenient_mode_and_refused_in_strict(world: World) -> None:
    client, admin = world.client, world.as_("admin")
    params = {"_id": world.pid, "colour": "blue", "_sort": "shoe-size", "_summary": "text", "_elements": "nope"}
    bundle = client.get("/fhir/Patient", params=params, headers=admin).json()
    assert _ids(bundle) == [world.pid]
    outcomes = [entry for entry in bundle["entry"] if entry["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    issues = outcomes[0]["resource"]["issue"]
    assert {issue["severity"] for issue in issues} == {"warning"}
    assert len(issues) == 4
    assert all(word in " ".join(i["diagnostics"] for i in issues) for word in ("colour", "shoe-size", "text", "nope"))
    assert "colour" not in bundle["link"][0]["url"]
    for name, value in params.items():
        if name == "_id":
            continue
        strict = client.get("/fhir/Patient", params={name: value}, headers={**admin, "Prefer": "handling=strict"})
        assert strict.status_code == 400, name
        assert strict.json()["issue"][0]["code"] == "not-supported"
        assert strict.json()["issue"][0]["expression"] == [name]
    xml = client.get("/fhir/Patient", params={"_format": "xml"}, headers=admin)
    assert xml.status_code == 406
    assert xml.headers["content-type"].startswith(FHIR_JSON)
    assert client.get("/fhir/Patient", params={"_format": "json"}, headers=admin).status_code == 200


def test_etag_last_modified_and_vread_where_versions_exist(world: World) -> None:
    client, gp = world.client, world.as_("gp")
    allergy = world.entries["allergy"]
    read = client.get(f"/fhir/AllergyIntolerance/{allergy}", headers=gp)
    version = read.json()["meta"]["versionId"]
    assert read.headers["etag"] == f'W/"{version}"'
    assert read.headers["last-modified"].endswith(" GMT")
    vread = client.get(f"/fhir/AllergyIntolerance/{allergy}/_history/{version}", headers=gp)
    assert vread.status_code == 200
    assert vread.json() == read.json()
    assert vread.headers["etag"] == read.headers["etag"]
    missing = client.get(f"/fhir/AllergyIntolerance/{allergy}/_history/99", headers=gp)
    assert (missing.status_code, missing.json()["issue"][0]["code"]) == (404, "not-found")
    # someone outside the care team gets no version either
    assert client.get(f"/fhir/AllergyIntolerance/{allergy}/_history/{version}",
                      headers=world.as_("unrelated")).status_code in (403, 404)  # fmt: skip
    patient = client.get(f"/fhir/Patient/{world.pid}", headers=world.as_("admin"))
    assert "etag" not in patient.headers  # no versions kept for patients
    assert client.get(f"/fhir/Patient/{world.pid}/_history/1", headers=world.as_("admin")).status_code == 404
    statement = client.get("/fhir/metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert {"code": "vread"} in by_type["AllergyIntolerance"]["interaction"]
    assert by_type["AllergyIntolerance"]["versioning"] == "versioned"
    assert {"code": "vread"} not in by_type["Patient"]["interaction"]
    assert all("_id" in {p["name"] for p in r["searchParam"]} for r in by_type.values())


PATIENT_SCOPED = ("Claim", "ClaimResponse", "ExplanationOfBenefit", "ServiceRequest", "Task", "AuditEvent",
                  "AllergyIntolerance", "Condition", "DocumentReference", "Observation")  # fmt: skip


def _shape(response: Any) -> tuple[int, str, Any]:
    body = response.json()
    if body["resourceType"] == "Bundle":
        return response.status_code, "Bundle", body["total"]
    return response.status_code, body["resourceType"], [issue["code"] for issue in body["issue"]]


@pytest.mark.parametrize("resource_type", PATIENT_SCOPED)
def test_an_unknown_patient_answers_like_somebody_elses(world: World, resource_type: str) -> None:
    client = world.client
    for role in ("unrelated", "other_patient"):
        unknown = client.get(f"/fhir/{resource_type}", params={"patient": "Patient/unknown"}, headers=world.as_(role))
        unrelated = client.get(f"/fhir/{resource_type}", params={"patient": f"Patient/{world.pid}"},
                               headers=world.as_(role))  # fmt: skip
        assert unknown.headers["content-type"].startswith(FHIR_JSON)
        assert _shape(unknown) == _shape(unrelated), (role, unknown.text, unrelated.text)
    for role in ("insurer", "admin"):  # who may see any patient is told there is none, in FHIR
        missing = client.get(f"/fhir/{resource_type}", params={"patient": "unknown"}, headers=world.as_(role))
        assert missing.headers["content-type"].startswith(FHIR_JSON)
        assert missing.json()["resourceType"] in ("OperationOutcome", "Bundle")


def test_audit_events_name_demo_patients_with_their_oid_and_reference_what_resolves(
    client: TestClient, tokens: Tokens, people: People
) -> None:
    demo = people.patient(nir_system=INS_NIR_DEMO_SYSTEM)
    gp = people.professional()
    specialist = people.professional(specialty="cardiology")
    people.declare(demo, gp)
    referred = client.post("/api/referrals", json={"patient_id": demo["id"], "referrer_rpps": gp["rpps"],
                                                   "target_rpps": specialist["rpps"], "reason": "souffle"})  # fmt: skip
    assert referred.status_code == 201, referred.text
    headers = tokens.professional(gp["rpps"])
    assert client.get("/fhir/Task", params={"patient": demo["id"]}, headers=headers).status_code == 200
    assert client.get(f"/api/referrals/{referred.json()['id']}", headers=headers).status_code == 200
    events = client.get("/fhir/AuditEvent", params={"patient": demo["id"], "_count": "100"},
                        headers=tokens.patient(demo["nir"])).json()["entry"]  # fmt: skip
    whats = [entity["what"] for event in events for entity in event["resource"]["entity"]]
    patients = [what for what in whats if what.get("type") == "Patient"]
    assert patients
    assert {what["identifier"]["system"] for what in patients} == {INS_NIR_DEMO_SYSTEM}
    references = {what["reference"] for what in whats if "reference" in what}
    assert f"ServiceRequest/referral-{referred.json()['id']}" in references
    served = set(fhir_server().providers)
    for reference in (r for r in references if r.partition("/")[0] in served):  # every one served resolves
        assert client.get(f"/fhir/{reference}", headers=headers).status_code == 200, reference


@pytest.mark.parametrize("resource_type", ["Claim", "ClaimResponse", "ExplanationOfBenefit"])
def test_claim_search_without_a_patient_by_role(world: World, resource_type: str) -> None:
    """Without ``patient``: the agent lists every claim, the patient their own, a professional what they billed;
    an administrator, who may not read claims, is refused for their role (not "patient inconnu"), and traced."""
    client, claim = world.client, world.claim["id"]
    for role in ("insurer", "self", "biller"):
        response = client.get(f"/fhir/{resource_type}", headers=world.as_(role))
        assert response.status_code == 200, (role, response.text)
        assert claim in _ids(response.json()), role
    assert client.get(f"/fhir/{resource_type}", headers=world.as_("gp")).json()["total"] == 0  # billed nothing
    refused = client.get(f"/fhir/{resource_type}", headers=world.as_("admin"))
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith(FHIR_JSON)
    issue = refused.json()["issue"][0]
    assert issue["code"] == "forbidden"
    assert issue["diagnostics"] == "accès refusé : ce rôle n'a pas accès à cette donnée"
    trail = client.get("/fhir/AuditEvent", params={"_count": "1"}, headers=world.as_("admin")).json()
    refusal = client.get(f"/fhir/AuditEvent/{int(trail['entry'][0]['resource']['id']) - 1}",
                         headers=world.as_("admin")).json()  # the one before the admin's own search  # fmt: skip
    assert (refusal["outcome"], refusal["agent"][0]["who"]["identifier"]["value"]) == ("4", "administrator:admin")
    assert refusal["outcomeDesc"] == "refusé : ce rôle n'a pas accès à cette donnée"


def _sorted_ids(world: World, path: str, role: str, sort: str, **params: str) -> list[str]:
    response = world.client.get(path, params={**params, "_sort": sort, "_count": "100"}, headers=world.as_(role))
    assert response.status_code == 200, response.text
    return _ids(response.json())


@pytest.mark.parametrize(
    ("path", "role", "date_key", "date_of"),
    [
        ("/fhir/ServiceRequest", "gp", "authored", lambda r: r["authoredOn"]),
        ("/fhir/Task", "gp", "authored-on", lambda r: r["authoredOn"]),
        ("/fhir/DocumentReference", "gp", "date", lambda r: r["date"]),
        ("/fhir/AuditEvent", "self", "date", lambda r: r["recorded"]),
    ],
)
def test_sort_on_coordination_record_and_audit(world: World, path: str, role: str, date_key: str, date_of: Any) -> None:
    params = {"patient": world.pid}
    key = int if path == "/fhir/AuditEvent" else str  # an AuditEvent's id is its sequence number
    by_id = _sorted_ids(world, path, role, "_id", **params)
    assert len(by_id) >= 2, path
    assert by_id == sorted(by_id, key=key)
    descending = _sorted_ids(world, path, role, "-_id", **params)  # an AuditEvent search adds one event
    assert descending == sorted(descending, key=key, reverse=True)
    assert set(by_id) <= set(descending)
    for sort in (date_key, f"-{date_key}"):
        bundle = world.client.get(path, params={**params, "_sort": sort, "_count": "100"}, headers=world.as_(role))
        dates = [date_of(entry["resource"]) for entry in bundle.json()["entry"]]
        assert dates == sorted(dates, reverse=sort.startswith("-")), (path, sort)
    strict = world.client.get(path, params={**params, "_sort": "shoe-size"},
                              headers={**world.as_(role), "Prefer": "handling=strict"})  # fmt: skip
    assert (strict.status_code, strict.json()["issue"][0]["code"]) == (400, "not-supported")


def test_every_audit_event_reference_resolves_and_the_rest_is_named(world: World) -> None:
    """The world's flow (declaration, referral, téléexpertise, record reads, non-opposition, block, mask, emergency,
    claim), then its trail: each ``entity.what.reference`` reads back (200) for one of its readers; what the server
    does not serve carries an identifier instead."""
    client = world.client
    assert set(fhir_server().providers) == SERVED_TYPES
    client.get(f"/fhir/DocumentReference?patient={world.pid}", headers=world.as_("gp"))  # a search names its results
    events = client.get("/fhir/AuditEvent", params={"_count": "200"}, headers=world.as_("admin")).json()["entry"]
    whats = [entity["what"] for event in events for entity in event["resource"].get("entity", ())]
    references = {what["reference"] for what in whats if "reference" in what}
    assert {r.partition("/")[0] for r in references} >= {"DocumentReference", "ServiceRequest", "Patient"}
    readers = ("self", "admin", "insurer", "gp", "other_patient")
    for reference in sorted(references):
        assert reference.partition("/")[0] in SERVED_TYPES, reference
        codes = [client.get(f"/fhir/{reference}", headers=world.as_(role)).status_code for role in readers]
        assert 200 in codes, (reference, codes)
    named = [what for what in whats if "reference" not in what and "identifier" in what]
    for what in named:
        system = what["identifier"]["system"]
        if system.startswith(UNSERVED_SYSTEM):
            assert system.removeprefix(UNSERVED_SYSTEM) == what["type"] not in SERVED_TYPES
    assert any(what["identifier"]["system"].startswith(UNSERVED_SYSTEM) for what in named)  # e.g. RecordControl
