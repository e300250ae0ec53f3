"""A small world for the access tests, built through the HTTP API the way it happens in practice.

A minor patient (Léa, 13) whose mother declared the médecin traitant; the MT referred her to a cardiologist and to a
second cardiologist she later blocked; a téléexpertise between two doctors; a GP who billed a visit; a doctor who
attested her non-opposition; an emergency doctor who opened a bris de glace; an unrelated doctor; another patient;
an insurer agent; an administrator. The MT filed a report and a problem list; Léa masked one document.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient

from tests.api.conftest import People, new_nir
from tests.conftest import Tokens

PROFESSIONALS = ("gp", "referred", "te_expert", "te_requester", "biller", "non_opposed", "unrelated", "blocked",
                 "emergency")  # fmt: skip
CARE = {"gp", "referred", "te_expert", "te_requester", "biller", "non_opposed"}
SELF = {"self", "parent"}
ROLES = ("self", "parent", "other_patient", *PROFESSIONALS, "insurer", "admin")
SPECIALTIES = {"referred": "cardiology", "blocked": "cardiology", "te_expert": "dermatology"}
EMERGENCY_REASON = "patiente inconsciente admise aux urgences"


def document(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11488-4", "display": "CR de consultation"}]},
        "description": text,
        "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}}],
        **extra,
    }


ALLERGY = {
    "resourceType": "AllergyIntolerance",
    "clinicalStatus": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]
    },
    "code": {"text": "Pénicilline"},
}


def condition(text: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "code": {"text": text}}


@dataclass
class World:
    client: TestClient
    tokens: Tokens
    people: People
    patient: dict[str, Any] = field(default_factory=dict)
    other: dict[str, Any] = field(default_factory=dict)
    parent_nir: str = ""
    pro: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: dict[str, str] = field(default_factory=dict)
    referral: dict[str, Any] = field(default_factory=dict)
    teleexpertise: dict[str, Any] = field(default_factory=dict)
    claim: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def pid(self) -> str:
        return str(self.patient["id"])

    def as_(self, role: str) -> dict[str, str]:
        return self.headers[role]

    def call(self, role: str, method: str, path: str, body: Any = None) -> Any:
        return self.client.request(method, path, json=body, headers=self.headers[role])

    def ok(self, response: Any) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()


def build_world(client: TestClient, tokens: Tokens, people: People) -> World:
    world = World(client, tokens, people)
    for name in (*PROFESSIONALS, "spare"):
        specialty = SPECIALTIES.get(name, "general_practice")
        world.pro[name] = people.professional(specialty=specialty, family_name=name.capitalize())
    world.parent_nir = new_nir(sex="2", year="85", month="03")
    world.patient = people.patient(birth_date="2012-05-14", given_name="Léa", sex="female")
    world.other = people.patient()
    world.headers = {
        "self": tokens.patient(world.patient["nir"]),
        "parent": tokens.patient(world.parent_nir),
        "other_patient": tokens.patient(world.other["nir"]),
        **{name: tokens.professional(world.pro[name]["rpps"]) for name in (*PROFESSIONALS, "spare")},
        "insurer": tokens.agent(),
        "admin": tokens.admin(),
    }
    rpps = {name: world.pro[name]["rpps"] for name in world.pro}
    pid = world.pid
    today = dt.date.today().isoformat()
    # the front desk records the mother as Léa's legal representative; she hands the GP the presence attestation
    world.ok(world.call("admin", "POST", f"/api/record/{pid}/representatives", {"nir": world.parent_nir}))
    world.ok(people.declare(world.patient, world.pro["gp"], start=today, representative_nir=world.parent_nir))
    for target in ("referred", "blocked"):
        referral = world.ok(world.call("gp", "POST", "/api/referrals", {
            "patient_id": pid, "referrer_rpps": rpps["gp"], "target_rpps": rpps[target],
            "reason": "souffle cardiaque à explorer"}))  # fmt: skip
        if target == "referred":
            world.referral = referral
    world.teleexpertise = world.ok(world.call("te_requester", "POST", "/api/teleexpertises", {
        "patient_id": pid, "requester_rpps": rpps["te_requester"], "expert_rpps": rpps["te_expert"],
        "question": "Lésion cutanée : avis ?", "consent_at": dt.datetime.now(dt.UTC).isoformat(),
        "vitale_attestation": people.attest(world.patient, world.pro["te_requester"], world.parent_nir)}))  # fmt: skip
    world.claim = world.ok(world.call("biller", "POST", "/api/claims", {
        "idempotency_key": "world-claim-0001", "patient_id": pid, "professional_rpps": rpps["biller"],
        "date": today, "acts": [{"code": "G"}],
        "vitale_attestation": people.attest(world.patient, world.pro["biller"], world.parent_nir)}))  # fmt: skip
    world.ok(world.call("non_opposed", "POST", f"/api/record/{pid}/non-oppositions", {}))
    world.ok(world.call("self", "POST", f"/api/record/{pid}/blocks", {"rpps": rpps["blocked"]}))
    world.ok(world.call("emergency", "POST", f"/api/record/{pid}/emergency-access", {"reason": EMERGENCY_REASON}))
    for name, payload in (
        ("plain", document("Compte rendu de consultation")),
        ("masked", document("Consultation de santé sexuelle")),
        ("spare", document("Certificat de sport")),
        ("problem", condition("Asthme")),
        ("allergy", ALLERGY),
        (
            "treatment",
            {
                "resourceType": "MedicationStatement",
                "status": "active",
                "medicationCodeableConcept": {
                    "coding": [{"system": "http://www.whocc.no/atc", "code": "R03AC02", "display": "salbutamol"}]
                },
            },
        ),
        (
            "vaccine",
            {
                "resourceType": "Immunization",
                "status": "completed",
                "vaccineCode": {"text": "DTP"},
                "occurrenceDateTime": "2024-10-01",
            },
        ),
        (
            "result",
            {
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "19926-5", "display": "DEP"}]},
                "valueQuantity": {"value": 320},
            },
        ),
    ):
        world.entries[name] = world.ok(world.call("gp", "POST", f"/api/record/{pid}/entries", payload))["id"]
    world.ok(world.call("self", "POST", f"/api/record/{pid}/entries/{world.entries['masked']}/mask", {}))
    return world
