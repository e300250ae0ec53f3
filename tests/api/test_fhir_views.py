"""The FHIR R4 views of the coordination store, read back with fhir.resources (R4B) as a FHIR client would."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.explanationofbenefit import ExplanationOfBenefit
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.task import Task

from parcours.store.db import Database
from tests.api.conftest import People
from tests.api.history import declared_since
from tests.conftest import Tokens

INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
RPPS = "https://rpps.esante.gouv.fr"


def setup(client: TestClient, people: People, database: Database) -> dict[str, Any]:
    patient, gp, cardiologist = people.patient(), people.professional(), people.professional("cardiology")
    declared_since(database, patient, gp, "2025-01-06")
    referral = client.post(
        "/api/referrals",
        json={
            "patient_id": patient["id"], "referrer_rpps": gp["rpps"], "target_rpps": cardiologist["rpps"],
            "reason": "Dyspnée d'effort", "issued_on": "2026-03-02",
        },
    ).json()  # fmt: skip
    claim = client.post(
        "/api/claims",
        json={
            "idempotency_key": "fhir-claim-0001", "patient_id": patient["id"], "professional_rpps": gp["rpps"],
            "date": "2026-03-02", "acts": [{"code": "G", "fee": 30.0}],
        },
    ).json()  # fmt: skip
    return {"patient": patient, "gp": gp, "cardiologist": cardiologist, "referral": referral, "claim": claim}


def test_metadata_lists_every_resource_served(client: TestClient) -> None:
    statement = CapabilityStatement.model_validate(client.get("/fhir/metadata").json())
    served = {resource.type for resource in statement.rest[0].resource}
    assert served >= {
        "Patient", "Practitioner", "PractitionerRole", "ServiceRequest", "Task", "Claim", "ClaimResponse",
        "ExplanationOfBenefit",
    }  # fmt: skip


def test_patient_search_by_nir_gives_the_gp(client: TestClient, people: People, database: Database) -> None:
    world = setup(client, people, database)
    response = client.get("/fhir/Patient", params={"identifier": f"{INS_NIR}|{world['patient']['nir']}"})
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    assert bundle.total == 1
    patient = Patient.model_validate(bundle.entry[0].resource.model_dump())
    assert patient.generalPractitioner[0].reference == f"Practitioner/{world['gp']['id']}"
    practitioner = Practitioner.model_validate(client.get(f"/fhir/Practitioner/{world['gp']['id']}").json())
    assert {(i.system, i.value) for i in practitioner.identifier} >= {(RPPS, world["gp"]["rpps"])}


def test_practitioner_search_by_rpps(client: TestClient, people: People, database: Database) -> None:
    world = setup(client, people, database)
    bundle = Bundle.model_validate(
        client.get("/fhir/Practitioner", params={"identifier": f"{RPPS}|{world['cardiologist']['rpps']}"}).json()
    )
    assert [e.resource.id for e in bundle.entry] == [world["cardiologist"]["id"]]


def test_referral_as_service_request_and_task_closed_by_the_report(
    client: TestClient, people: People, database: Database, tokens: Tokens
) -> None:
    world = setup(client, people, database)
    patient_id, referral_id = world["patient"]["id"], world["referral"]["id"]
    as_gp = tokens.professional(world["gp"]["rpps"])
    active = Bundle.model_validate(
        client.get(
            "/fhir/ServiceRequest", params={"patient": f"Patient/{patient_id}", "status": "active"}, headers=as_gp
        ).json()
    )
    assert [e.resource.id for e in active.entry] == [f"referral-{referral_id}"]
    client.post(
        f"/api/referrals/{referral_id}/report",
        json={
            "professional_rpps": world["cardiologist"]["rpps"],
            "report": "ETT normale.",
            "reported_on": "2026-03-09",
        },
    )
    task = Task.model_validate(client.get(f"/fhir/Task/referral-{referral_id}", headers=as_gp).json())
    assert task.status == "completed"
    assert task.output[0].valueString == "ETT normale."
    done = Bundle.model_validate(
        client.get("/fhir/ServiceRequest", params={"patient": patient_id, "status": "active"}, headers=as_gp).json()
    )
    assert done.total == 0


def test_explanation_of_benefit_has_one_adjudication_per_amount(
    client: TestClient, people: People, database: Database, tokens: Tokens
) -> None:
    world = setup(client, people, database)
    mine = tokens.patient(world["patient"]["nir"])
    bundle = Bundle.model_validate(
        client.get("/fhir/ExplanationOfBenefit", params={"patient": world["patient"]["id"]}, headers=mine).json()
    )
    eob = ExplanationOfBenefit.model_validate(bundle.entry[0].resource.model_dump())
    amounts = {
        a.category.coding[0].code: float(a.amount.value) for a in eob.item[0].adjudication if a.amount is not None
    }
    assert amounts["submitted"] == 30.0
    assert amounts["eligible"] == 30.0
    assert amounts["benefit"] == 19.0
    assert amounts["participation-forfaitaire"] == 2.0
    assert amounts["patient"] == 11.0


def test_unknown_id_is_an_operation_outcome(client: TestClient) -> None:
    response = client.get("/fhir/ExplanationOfBenefit/nope")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_explanation_of_benefit_includes_the_mutuelle_when_the_contract_is_known(
    client: TestClient, people: People, database: Database, tokens: Tokens
) -> None:
    patient, gp = people.patient(mutuelle_contract="confort"), people.professional(sector="2", optam=True)
    declared_since(database, patient, gp, "2025-01-06")
    client.post(
        "/api/claims",
        json={
            "idempotency_key": "fhir-amc-00001", "patient_id": patient["id"], "professional_rpps": gp["rpps"],
            "date": "2026-03-02", "acts": [{"code": "G", "fee": 50.0}],
        },
    )  # fmt: skip
    bundle = Bundle.model_validate(
        client.get(
            "/fhir/ExplanationOfBenefit", params={"patient": patient["id"]}, headers=tokens.patient(patient["nir"])
        ).json()
    )
    eob = ExplanationOfBenefit.model_validate(bundle.entry[0].resource.model_dump())
    amounts = {a.category.coding[0].code: float(a.amount.value) for a in eob.item[0].adjudication if a.amount}
    # G 50 € by an OPTAM GP: AMO 19 €; Confort 150 % × 30 € − 21 € = 24 €; left: PF 2 € + 5 € overrun
    assert (amounts["benefit"], amounts["amc"], amounts["patient"]) == (19.0, 24.0, 7.0)


def _claim_views(client: TestClient, claim_id: str, headers: dict[str, str]) -> list[Any]:
    from fhir.resources.R4B.claimresponse import ClaimResponse

    response = ClaimResponse.model_validate(client.get(f"/fhir/ClaimResponse/{claim_id}", headers=headers).json())
    eob = ExplanationOfBenefit.model_validate(
        client.get(f"/fhir/ExplanationOfBenefit/{claim_id}", headers=headers).json()
    )
    return [response, eob]


def test_claim_response_and_eob_carry_the_explanation_step_by_step(
    client: TestClient, people: People, tokens: Tokens, database: Database
) -> None:
    world = setup(client, people, database)
    claim = world["claim"]
    steps = claim["adjudication"]["explanation"]
    for resource in _claim_views(client, claim["id"], tokens.patient(world["patient"]["nir"])):
        notes = resource.processNote
        assert [n.number for n in notes] == list(range(1, len(steps) + 1))
        for note, step in zip(notes, steps, strict=True):
            assert note.text.startswith(f"[{step['rule']}] {step['text']}")
            detail = {e.url: e for e in note.extension[0].extension}
            assert detail["rule"].valueCode == step["rule"]
            if "amount" in step:
                assert float(detail["amount"].valueMoney.value) == step["amount"]
        participation = next(n for n, s in zip(notes, steps, strict=True) if s["rule"] == "participation")
        assert "2,00" in participation.text  # the participation forfaitaire, 2 € (brief §1)
        item_notes = resource.item[0].noteNumber
        assert item_notes
        assert all(steps[n - 1].get("line") == 0 for n in item_notes)


def test_a_rejected_line_says_why_in_its_adjudication(
    client: TestClient, people: People, tokens: Tokens, database: Database
) -> None:
    patient, gp = people.patient(), people.professional()
    declared_since(database, patient, gp, "2025-01-06")
    # a teleconsultation of a patient never seen in person: the line is rejected (brief §3, known patient)
    claim = client.post(
        "/api/claims",
        json={
            "idempotency_key": "fhir-reject-001", "patient_id": patient["id"], "professional_rpps": gp["rpps"],
            "date": "2026-03-02", "acts": [{"code": "TCG"}], "teleconsultation": True,
        },
    ).json()  # fmt: skip
    assert claim["status"] == "rejected"
    for resource in _claim_views(client, claim["id"], tokens.patient(patient["nir"])):
        benefit = next(a for a in resource.item[0].adjudication if a.category.coding[0].code == "benefit")
        assert float(benefit.amount.value) == 0.0
        assert benefit.reason.coding[0].code == "teleconsultation_unknown_patient"
        assert benefit.reason.coding[0].system == "urn:parcours:fhir:CodeSystem:rejection"
        assert "patient non connu" in benefit.reason.text


def test_service_requests_and_tasks_page_across_referrals_and_teleexpertises(
    client: TestClient, people: People, tokens: Tokens, database: Database
) -> None:
    import datetime as dt

    from tests.api.history import days_ago

    patient, gp = people.patient(), people.professional()
    cardiologist, dermatologist = people.professional("cardiology"), people.professional("dermatology")
    declared_since(database, patient, gp, "2025-01-06")
    expected: list[tuple[str, str]] = []  # (day, resource id) in the order the server must give
    for days in (40, 30, 20, 10, 0):
        day = days_ago(days)
        if days % 20 == 0:
            body = {"patient_id": patient["id"], "referrer_rpps": gp["rpps"], "target_rpps": cardiologist["rpps"],
                    "reason": "Bilan", "issued_on": day}  # fmt: skip
            expected.append((day, "referral-" + client.post("/api/referrals", json=body).json()["id"]))
        else:
            body = {"patient_id": patient["id"], "requester_rpps": gp["rpps"], "expert_rpps": dermatologist["rpps"],
                    "question": "Avis ?", "consent_at": f"{day}T08:00:00+00:00", "requested_on": day}  # fmt: skip
            expected.append((day, "teleexpertise-" + client.post("/api/teleexpertises", json=body).json()["id"]))
    as_gp = tokens.professional(gp["rpps"])
    for kind in ("ServiceRequest", "Task"):
        seen: list[str] = []
        url: str | None = f"/fhir/{kind}?patient={patient['id']}&_count=2"
        while url:
            bundle = Bundle.model_validate(client.get(url, headers=as_gp).json())
            assert bundle.total == len(expected)
            assert len(bundle.entry or []) <= 2
            seen.extend(entry.resource.id for entry in bundle.entry or [])
            following = [link.url for link in bundle.link if link.relation == "next"]
            url = following[0].removeprefix(str(client.base_url)) if following else None
        assert seen == [identifier for _, identifier in sorted(expected)]
    # the two téléexpertises left unanswered past their deadline are revoked requests and failed tasks
    assert dt.date.fromisoformat(days_ago(30)) < dt.date.today()
    revoked = Bundle.model_validate(
        client.get("/fhir/ServiceRequest", params={"patient": patient["id"], "status": "revoked"}, headers=as_gp).json()
    )
    assert {e.resource.id for e in revoked.entry} == {i for _, i in expected if i.startswith("teleexpertise-")}
    failed = Bundle.model_validate(
        client.get("/fhir/Task", params={"patient": patient["id"], "status": "failed"}, headers=as_gp).json()
    )
    assert failed.total == 2
