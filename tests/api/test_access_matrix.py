"""The access-control matrix through the HTTP API: for each endpoint, every role gets exactly what the rules allow
(a 2xx) and is refused everything else (a 403), on SQLite and on PostgreSQL.

Roles: the patient (a minor), her parent, another patient, her médecin traitant, the cardiologist she was referred
to, the expert and the requester of a téléexpertise about her, a doctor who billed her a visit, a doctor after her
non-opposition, an unrelated doctor, a cardiologist she blocked, an emergency doctor after a bris de glace, an
insurer agent, an administrator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import People, new_nir
from tests.api.record_world import CARE, PROFESSIONALS, ROLES, SELF, World, build_world, condition
from tests.conftest import Tokens

EVERY_PROFESSIONAL = set(PROFESSIONALS)
READ_RECORD = SELF | CARE | {"emergency"}
PATIENT_FILE = SELF | CARE | {"blocked", "emergency", "insurer", "admin"}
COORDINATION = SELF | CARE | {"emergency"}

Request = Callable[[World, str], tuple[str, str, Any]]


def get(path: Callable[[World], str]) -> Request:
    return lambda w, role: ("GET", path(w), None)


def post(path: Callable[[World], str], body: Callable[[World, str], Any]) -> Request:
    return lambda w, role: ("POST", path(w), body(w, role))


def rec(w: World) -> str:
    return f"/api/record/{w.pid}"


# endpoint → (request, roles that get a 2xx)
ENDPOINTS: dict[str, tuple[Request, set[str]]] = {
    # the shared record
    "list entries": (get(lambda w: f"{rec(w)}/entries"), READ_RECORD),
    "read an entry": (get(lambda w: f"{rec(w)}/entries/{w.entries['plain']}"), READ_RECORD),
    "read a masked entry": (get(lambda w: f"{rec(w)}/entries/{w.entries['masked']}"), SELF | {"gp"}),
    "add an entry": (post(lambda w: f"{rec(w)}/entries", lambda w, r: condition("Rhinite allergique")), SELF | CARE),
    "export": (get(lambda w: f"{rec(w)}/export"), READ_RECORD),
    "coherence flags": (get(lambda w: f"{rec(w)}/coherence"), READ_RECORD),
    "controls": (get(lambda w: f"{rec(w)}/controls"), SELF),
    "mask": (post(lambda w: f"{rec(w)}/entries/{w.entries['spare']}/mask", lambda w, r: {}), SELF),
    "block": (post(lambda w: f"{rec(w)}/blocks", lambda w, r: {"rpps": w.pro["spare"]["rpps"]}), SELF),
    "opposition": (lambda w, r: ("PUT", f"{rec(w)}/opposition", {"emergency_access": False}), SELF),
    "grant a non-opposition to someone": (
        post(lambda w: f"{rec(w)}/non-oppositions", lambda w, r: {"rpps": w.pro["spare"]["rpps"]}),
        SELF,
    ),
    "access history": (get(lambda w: f"{rec(w)}/access-history"), SELF | {"admin"}),
    "legal representative": (
        post(lambda w: f"{rec(w)}/representatives", lambda w, r: {"nir": new_nir(sex="1", year="80")}),
        {"insurer", "admin"},
    ),
    "FHIR DocumentReference search": (
        get(lambda w: f"/fhir/DocumentReference?patient=Patient/{w.pid}"),
        READ_RECORD,
    ),
    "FHIR Condition search": (get(lambda w: f"/fhir/Condition?patient=Patient/{w.pid}"), READ_RECORD),
    "FHIR read of a masked document": (get(lambda w: f"/fhir/DocumentReference/{w.entries['masked']}"), SELF | {"gp"}),
    "FHIR AuditEvent search": (get(lambda w: f"/fhir/AuditEvent?patient=Patient/{w.pid}"), SELF | {"admin"}),
    # the coordination service
    "patient file": (get(lambda w: f"/api/patients/{w.pid}"), PATIENT_FILE),
    "médecin traitant": (get(lambda w: f"/api/patients/{w.pid}/gp"), PATIENT_FILE),
    "declarations": (get(lambda w: f"/api/patients/{w.pid}/declarations"), PATIENT_FILE),
    "coverage update": (
        lambda w, r: ("PUT", f"/api/patients/{w.pid}/coverage", {"regime": "general"}),
        {"insurer", "admin"},
    ),
    "patient's referrals": (get(lambda w: f"/api/patients/{w.pid}/referrals"), COORDINATION),
    "patient's teleconsultations": (get(lambda w: f"/api/patients/{w.pid}/teleconsultations"), COORDINATION),
    "patient's claims (a professional sees their own)": (
        get(lambda w: f"/api/patients/{w.pid}/claims"),
        SELF | EVERY_PROFESSIONAL | {"insurer"},
    ),
    "year to date": (get(lambda w: f"/api/patients/{w.pid}/year-to-date"), SELF | {"insurer"}),
    "read a referral": (get(lambda w: f"/api/referrals/{w.referral['id']}"), COORDINATION),
    "read a téléexpertise": (get(lambda w: f"/api/teleexpertises/{w.teleexpertise['id']}"), COORDINATION),
    "read a claim": (get(lambda w: f"/api/claims/{w.claim['id']}"), SELF | {"biller", "insurer"}),
    "claim history": (get(lambda w: f"/api/claims/{w.claim['id']}/history"), SELF | {"biller", "insurer"}),
    "refer (as the MT)": (
        post(
            lambda w: "/api/referrals",
            lambda w, r: {
                "patient_id": w.pid,
                "referrer_rpps": w.pro["gp"]["rpps"],
                "target_rpps": w.pro["referred"]["rpps"],
                "reason": "contrôle annuel",
            },
        ),
        {"gp"},
    ),
    "answer the téléexpertise (as the expert asked)": (
        post(
            lambda w: f"/api/teleexpertises/{w.teleexpertise['id']}/answer",
            lambda w, r: {"expert_rpps": w.pro["te_expert"]["rpps"], "answer": "Nævus bénin, surveillance."},
        ),
        {"te_expert"},
    ),
    "submit a claim (as the biller)": (
        post(
            lambda w: "/api/claims",
            lambda w, r: {
                "idempotency_key": "world-claim-0001",
                "patient_id": w.pid,
                "professional_rpps": w.pro["biller"]["rpps"],
                "date": dt.date.today().isoformat(),
                "acts": [{"code": "G"}],
            },
        ),
        {"biller"},
    ),
    "a doctor's patients": (get(lambda w: f"/api/professionals/{w.pro['gp']['id']}/patients"), {"gp", "admin"}),
    "directory": (get(lambda w: f"/api/professionals/{w.pro['gp']['id']}"), set(ROLES)),
    "FHIR Patient read": (get(lambda w: f"/fhir/Patient/{w.pid}"), PATIENT_FILE),
    "FHIR ServiceRequest search": (get(lambda w: f"/fhir/ServiceRequest?patient=Patient/{w.pid}"), COORDINATION),
    "FHIR ExplanationOfBenefit search": (
        get(lambda w: f"/fhir/ExplanationOfBenefit?patient=Patient/{w.pid}"),
        SELF | EVERY_PROFESSIONAL | {"insurer"},
    ),
}


@pytest.fixture
def world(client: TestClient, tokens: Tokens, people: People) -> World:
    return build_world(client, tokens, people)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_matrix(world: World, endpoint: str) -> None:
    request, expected = ENDPOINTS[endpoint]
    allowed, unexpected = set(), {}
    for role in ROLES:
        method, path, body = request(world, role)
        response = world.call(role, method, path, body)
        if response.status_code in (200, 201):
            allowed.add(role)
        elif response.status_code != 403:
            unexpected[role] = (response.status_code, response.text[:200])
    assert unexpected == {}
    assert allowed == expected, f"allowed but should not: {allowed - expected}; refused: {expected - allowed}"


def test_refusals_are_traced(world: World) -> None:
    before = world.ok(world.call("admin", "GET", f"/api/record/{world.pid}/access-history"))["total"]
    assert world.call("unrelated", "GET", f"/api/record/{world.pid}/entries").status_code == 403
    history = world.ok(world.call("self", "GET", f"/api/record/{world.pid}/access-history"))
    refused = [item for item in history["items"] if not item["allowed"]]
    assert refused[0]["actor"] == f"professional:{world.pro['unrelated']['rpps']}"
    assert "non-opposition" in refused[0]["ground"]
    assert history["total"] >= before + 1
