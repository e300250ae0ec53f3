"""The access-control matrix through the HTTP API: for every endpoint of the application, every role gets exactly
what the rules allow (a 2xx) and is refused everything else (a 403), on SQLite and on PostgreSQL.

Roles: the patient (a minor), her parent, another patient, her médecin traitant, the cardiologist she was referred
to, the expert and the requester of a téléexpertise about her, a doctor who billed her a visit, a doctor after her
non-opposition, an unrelated doctor, a cardiologist she blocked, an emergency doctor after a bris de glace, an
insurer agent, an administrator. Writes "in one's own name" name the caller as the acting professional: writing
one's own RPPS in a request never makes one a member of the care team.

``test_every_endpoint_is_in_the_matrix`` enumerates the routes of the application (and the resource types of the
FHIR server) and fails when one is missing, so a new endpoint cannot ship without its row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from parcours.api.app import create_app
from parcours.api.fhir.server import fhir_server
from parcours.api.security import AuthSettings
from parcours.store.db import Database
from tests.api.conftest import People, new_nir, new_rpps
from tests.api.record_world import CARE, PROFESSIONALS, ROLES, SELF, World, build_world, condition
from tests.conftest import Tokens

EVERY_PROFESSIONAL = set(PROFESSIONALS)
READ_RECORD = SELF | CARE | {"emergency"}
PATIENT_FILE = SELF | CARE | {"blocked", "emergency", "insurer", "admin"}
COORDINATION = SELF | CARE | {"emergency"}
# care relations made with the patient present (MT, referral, téléexpertise, claim): the "blocked" cardiologist
# was referred to her before she blocked him, which keeps him in the care pathway (billing) but out of the record
PRESENCE = {"gp", "referred", "te_expert", "te_requester", "biller", "blocked"}
NOBODY: set[str] = set()
# lists of patients show those one treats (the blocked cardiologist still has his referral), not a bris de glace
LISTED = SELF | CARE | {"blocked", "insurer", "admin"}

# Routes open without a token, and why: they compute nothing personal.
PUBLIC = {
    "GET /health": "état du service",
    "GET /fhir/metadata": "CapabilityStatement (FHIR exige qu'il soit lisible sans authentification)",
    "GET /simulateur": "page du simulateur : calcule un remboursement d'après ce que l'utilisateur saisit",
    "GET /comparateur": "page du comparateur de contrats, même principe",
    "POST /api/simulations": "jumeau JSON du simulateur : aucune donnée de patient, rien n'est enregistré",
    "POST /api/comparisons": "jumeau JSON du comparateur : aucune donnée de patient, rien n'est enregistré",
    "GET /api/contracts": "catalogue public des contrats types",
}

Call = tuple[str, str, Any]
Request = Callable[[World, str], Call]


@dataclass(frozen=True)
class Row:
    route: str  # "METHOD /template" of the application, or "FHIR <type> read|vread|search"
    request: Request  # may prepare what the call needs (a fresh claim to cancel…) before returning it
    expected: set[str]  # roles that get a 2xx
    shows: Callable[[World, Any], bool] | None = None  # for lists filtered rather than refused: "sees the patient"


def get(path: Callable[[World], str]) -> Request:
    return lambda w, role: ("GET", path(w), None)


def post(path: Callable[[World], str], body: Callable[[World, str], Any]) -> Request:
    return lambda w, role: ("POST", path(w), body(w, role))


def delete(path: Callable[[World, str], str]) -> Request:
    return lambda w, role: ("DELETE", path(w, role), None)


def rec(w: World) -> str:
    return f"/api/record/{w.pid}"


def own(w: World, role: str) -> str:
    """The RPPS a caller writes in a request made in their own name (a patient or an agent names the MT)."""
    return str(w.pro[role if role in w.pro else "gp"]["rpps"])


def key() -> str:
    return f"matrix-{uuid.uuid4().hex[:16]}"


def today() -> str:
    return dt.date.today().isoformat()


def lists(w: World, page: Any) -> bool:
    items = page["items"] if isinstance(page, dict) and "items" in page else page.get("entry", [])
    return w.pid in str(items)


# --- what some rows prepare, as the people concerned, before each role tries -----------------------------------------


def fresh_claim(w: World) -> str:
    body = {"idempotency_key": key(), "patient_id": w.pid, "professional_rpps": w.pro["biller"]["rpps"],
            "date": today(), "acts": [{"code": "G"}]}  # fmt: skip
    return str(w.ok(w.call("biller", "POST", "/api/claims", body))["id"])


def masked_spare(w: World, role: str) -> str:
    w.call("self", "POST", f"{rec(w)}/entries/{w.entries['spare']}/mask", {})
    return f"{rec(w)}/entries/{w.entries['spare']}/mask"


def blocked_spare(w: World, role: str) -> str:
    w.ok(w.call("self", "POST", f"{rec(w)}/blocks", {"rpps": w.pro["spare"]["rpps"]}))
    return f"{rec(w)}/blocks/{w.pro['spare']['rpps']}"


def allowed_spare(w: World, role: str) -> str:
    w.ok(w.call("self", "POST", f"{rec(w)}/non-oppositions", {"rpps": w.pro["spare"]["rpps"]}))
    return f"{rec(w)}/non-oppositions/{w.pro['spare']['rpps']}"


def second_representative(w: World, role: str) -> str:
    nir = new_nir(sex="1", year="83")
    w.ok(w.call("admin", "POST", f"{rec(w)}/representatives", {"nir": nir}))
    return f"{rec(w)}/representatives/{nir}"


def gp_in_force(w: World) -> None:
    """The MT declared again if a previous role ended the declaration."""
    if w.call("admin", "GET", f"/api/patients/{w.pid}/gp").status_code == 404:
        w.ok(w.people.declare(w.patient, w.pro["gp"], representative_nir=w.parent_nir))


def end_declaration(w: World, role: str) -> Call:
    gp_in_force(w)
    return "POST", f"/api/patients/{w.pid}/declarations/end", {}


def retire(w: World, role: str) -> Call:
    """A professional stops being MT (retirement): their own list, or another's (the administrator)."""
    return "POST", f"/api/professionals/{w.pro[role if role in w.pro else 'spare']['id']}/gp-end", {}


def fresh_referral(w: World) -> str:
    body = {"patient_id": w.pid, "referrer_rpps": w.pro["gp"]["rpps"], "target_rpps": w.pro["referred"]["rpps"],
            "reason": "contrôle cardiologique"}  # fmt: skip
    return str(w.ok(w.call("gp", "POST", "/api/referrals", body))["id"])


def cancel_pending_teleexpertises(w: World) -> None:
    """Cancel, as their requesters, the requests a previous role made (the yearly limit counts pending ones)."""
    found = w.ok(w.call("self", "GET", f"/fhir/ServiceRequest?patient=Patient/{w.pid}&category=teleexpertise"
                                       "&status=active&_count=200"))  # fmt: skip
    by_id = {pro["id"]: name for name, pro in w.pro.items()}
    for entry in found.get("entry", []):
        item = entry["resource"]
        item_id = item["id"].removeprefix("teleexpertise-")
        if item_id != w.teleexpertise["id"]:
            requester = by_id[item["requester"]["reference"].rpartition("/")[2]]
            w.ok(w.call(requester, "POST", f"/api/teleexpertises/{item_id}/cancel",
                        {"requester_rpps": w.pro[requester]["rpps"]}))  # fmt: skip


def ask_teleexpertise(w: World, role: str) -> Call:
    cancel_pending_teleexpertises(w)
    expert = w.pro["spare" if role == "te_expert" else "te_expert"]["rpps"]
    return (
        "POST",
        "/api/teleexpertises",
        {
            "patient_id": w.pid,
            "requester_rpps": own(w, role),
            "expert_rpps": expert,
            "question": "Avis ?",
            "consent_at": dt.datetime.now(dt.UTC).isoformat(),
        },
    )


def fresh_teleexpertise(w: World) -> str:
    cancel_pending_teleexpertises(w)
    body = {"patient_id": w.pid, "requester_rpps": w.pro["te_requester"]["rpps"],
            "expert_rpps": w.pro["te_expert"]["rpps"], "question": "Lésion : avis ?",
            "consent_at": dt.datetime.now(dt.UTC).isoformat()}  # fmt: skip
    return str(w.ok(w.call("te_requester", "POST", "/api/teleexpertises", body))["id"])


def last_event(w: World) -> int:
    """The last audit entry about the patient."""
    page = w.ok(w.call("admin", "GET", f"{rec(w)}/access-history?limit=1"))
    sequence: int = page["items"][0]["sequence"]
    return sequence


def fhir(resource_type: str, id_of: Callable[[World], str]) -> Request:
    return get(lambda w: f"/fhir/{resource_type}/{id_of(w)}")


def fhir_search(resource_type: str) -> Request:
    return get(lambda w: f"/fhir/{resource_type}?patient=Patient/{w.pid}")


ENTRY_OF = {"DocumentReference": "plain", "Condition": "problem", "AllergyIntolerance": "allergy",
            "MedicationStatement": "treatment", "Immunization": "vaccine", "Observation": "result"}  # fmt: skip

CLAIM_READERS = SELF | {"biller", "insurer"}
CLAIM_LISTS = SELF | EVERY_PROFESSIONAL | {"insurer"}  # a professional lists the claims they billed (none: empty)

ENDPOINTS: dict[str, Row] = {
    # --- the shared record ---
    "list entries": Row("GET /api/record/{patient}/entries", get(lambda w: f"{rec(w)}/entries"), READ_RECORD),
    "read an entry": Row(
        "GET /api/record/{patient}/entries/{entry_id}",
        get(lambda w: f"{rec(w)}/entries/{w.entries['plain']}"),
        READ_RECORD,
    ),
    "read a masked entry": Row(
        "GET /api/record/{patient}/entries/{entry_id}",
        get(lambda w: f"{rec(w)}/entries/{w.entries['masked']}"),
        SELF | {"gp"},
    ),
    "add an entry": Row(
        "POST /api/record/{patient}/entries",
        post(lambda w: f"{rec(w)}/entries", lambda w, r: condition("Rhinite allergique")),
        SELF | CARE,
    ),
    "export": Row("GET /api/record/{patient}/export", get(lambda w: f"{rec(w)}/export"), READ_RECORD),
    "coherence flags": Row("GET /api/record/{patient}/coherence", get(lambda w: f"{rec(w)}/coherence"), READ_RECORD),
    "controls": Row("GET /api/record/{patient}/controls", get(lambda w: f"{rec(w)}/controls"), SELF),
    "mask": Row(
        "POST /api/record/{patient}/entries/{entry_id}/mask",
        post(lambda w: f"{rec(w)}/entries/{w.entries['spare']}/mask", lambda w, r: {}),
        SELF,
    ),
    "unmask": Row("DELETE /api/record/{patient}/entries/{entry_id}/mask", delete(masked_spare), SELF),
    "block": Row(
        "POST /api/record/{patient}/blocks",
        post(lambda w: f"{rec(w)}/blocks", lambda w, r: {"rpps": w.pro["spare"]["rpps"]}),
        SELF,
    ),
    "unblock": Row("DELETE /api/record/{patient}/blocks/{rpps}", delete(blocked_spare), SELF),
    "opposition": Row(
        "PUT /api/record/{patient}/opposition",
        lambda w, r: ("PUT", f"{rec(w)}/opposition", {"emergency_access": False}),
        SELF,
    ),
    "grant a non-opposition to someone": Row(
        "POST /api/record/{patient}/non-oppositions",
        post(lambda w: f"{rec(w)}/non-oppositions", lambda w, r: {"rpps": w.pro["spare"]["rpps"]}),
        SELF,
    ),
    "attest a non-opposition in one's own name": Row(
        "POST /api/record/{patient}/non-oppositions",
        post(
            lambda w: f"{rec(w)}/non-oppositions", lambda w, r: {} if r in w.pro else {"rpps": w.pro["spare"]["rpps"]}
        ),
        SELF | EVERY_PROFESSIONAL - {"blocked"},
    ),
    "revoke a non-opposition": Row("DELETE /api/record/{patient}/non-oppositions/{rpps}", delete(allowed_spare), SELF),
    "bris de glace": Row(
        "POST /api/record/{patient}/emergency-access",
        post(lambda w: f"{rec(w)}/emergency-access", lambda w, r: {"reason": "malaise grave aux urgences"}),
        EVERY_PROFESSIONAL - {"blocked"},
    ),
    "access history": Row(
        "GET /api/record/{patient}/access-history", get(lambda w: f"{rec(w)}/access-history"), SELF | {"admin"}
    ),
    "add a legal representative": Row(
        "POST /api/record/{patient}/representatives",
        post(lambda w: f"{rec(w)}/representatives", lambda w, r: {"nir": new_nir(sex="1", year="80")}),
        {"insurer", "admin"},
    ),
    "remove a legal representative": Row(
        "DELETE /api/record/{patient}/representatives/{nir}", delete(second_representative), {"insurer", "admin"}
    ),
    # --- patients ---
    "register a patient": Row(
        "POST /api/patients",
        post(
            lambda w: "/api/patients",
            lambda w, r: {
                "nir": new_nir(year="90", month="01"),
                "family_name": "Neuf",
                "given_name": "Jean",
                "birth_date": "1990-01-15",
                "sex": "male",
            },
        ),
        EVERY_PROFESSIONAL | {"insurer", "admin"},
    ),
    "list patients (sees her)": Row("GET /api/patients", get(lambda w: "/api/patients?limit=200"), LISTED, shows=lists),
    "patient file": Row("GET /api/patients/{patient_id}", get(lambda w: f"/api/patients/{w.pid}"), PATIENT_FILE),
    "médecin traitant": Row(
        "GET /api/patients/{patient_id}/gp", get(lambda w: f"/api/patients/{w.pid}/gp"), PATIENT_FILE
    ),
    "declarations": Row(
        "GET /api/patients/{patient_id}/declarations",
        get(lambda w: f"/api/patients/{w.pid}/declarations"),
        PATIENT_FILE,
    ),
    "coverage update": Row(
        "PUT /api/patients/{patient_id}/coverage",
        lambda w, r: ("PUT", f"/api/patients/{w.pid}/coverage", {"regime": "general"}),
        {"insurer", "admin"},
    ),
    "presence attestation": Row(
        "POST /api/patients/{patient_id}/vitale-attestations",
        post(lambda w: f"/api/patients/{w.pid}/vitale-attestations", lambda w, r: {"professional_rpps": own(w, r)}),
        SELF,
    ),
    "end the declaration": Row(
        "POST /api/patients/{patient_id}/declarations/end", end_declaration, SELF | {"gp", "insurer", "admin"}
    ),
    "patient's referrals": Row(
        "GET /api/patients/{patient_id}/referrals", get(lambda w: f"/api/patients/{w.pid}/referrals"), COORDINATION
    ),
    "patient's teleconsultations": Row(
        "GET /api/patients/{patient_id}/teleconsultations",
        get(lambda w: f"/api/patients/{w.pid}/teleconsultations"),
        COORDINATION,
    ),
    "patient's claims (a professional sees their own)": Row(
        "GET /api/patients/{patient_id}/claims", get(lambda w: f"/api/patients/{w.pid}/claims"), CLAIM_LISTS
    ),
    "year to date": Row(
        "GET /api/patients/{patient_id}/year-to-date",
        get(lambda w: f"/api/patients/{w.pid}/year-to-date"),
        SELF | {"insurer"},
    ),
    # --- professionals and their worklists ---
    "register a professional": Row(
        "POST /api/professionals",
        post(
            lambda w: "/api/professionals",
            lambda w, r: {
                "rpps": new_rpps(),
                "family_name": "Neuve",
                "given_name": "Anne",
                "specialty": "general_practice",
            },
        ),
        {"admin"},
    ),
    "directory": Row("GET /api/professionals", get(lambda w: "/api/professionals"), set(ROLES)),
    "a professional": Row(
        "GET /api/professionals/{professional_id}", get(lambda w: f"/api/professionals/{w.pro['gp']['id']}"), set(ROLES)
    ),
    "a doctor's patients": Row(
        "GET /api/professionals/{professional_id}/patients",
        get(lambda w: f"/api/professionals/{w.pro['gp']['id']}/patients"),
        {"gp", "admin"},
    ),
    "stop being médecin traitant": Row(
        "POST /api/professionals/{professional_id}/gp-end", retire, EVERY_PROFESSIONAL | {"admin"}
    ),
    "referrals worklist": Row(
        "GET /api/professionals/{professional_id}/referrals",
        get(lambda w: f"/api/professionals/{w.pro['gp']['id']}/referrals"),
        {"gp", "admin"},
    ),
    "overdue referrals": Row(
        "GET /api/professionals/{professional_id}/referrals/overdue",
        get(lambda w: f"/api/professionals/{w.pro['gp']['id']}/referrals/overdue"),
        {"gp", "admin"},
    ),
    "téléexpertises worklist": Row(
        "GET /api/professionals/{professional_id}/teleexpertises",
        get(lambda w: f"/api/professionals/{w.pro['te_expert']['id']}/teleexpertises"),
        {"te_expert", "admin"},
    ),
    "overdue téléexpertises": Row(
        "GET /api/professionals/{professional_id}/teleexpertises/overdue",
        get(lambda w: f"/api/professionals/{w.pro['te_requester']['id']}/teleexpertises/overdue"),
        {"te_requester", "admin"},
    ),
    # --- médecin traitant declarations ---
    "declare oneself MT without the patient's attestation": Row(
        "POST /api/declarations",
        post(
            lambda w: "/api/declarations",
            lambda w, r: {
                "patient_id": w.pid,
                "professional_rpps": own(w, r),
                "consent_at": dt.datetime.now(dt.UTC).isoformat(),
            },
        ),
        NOBODY,
    ),
    # --- referrals ---
    "refer (as the MT)": Row(
        "POST /api/referrals",
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
    "refer in one's own name": Row(
        "POST /api/referrals",
        post(
            lambda w: "/api/referrals",
            lambda w, r: {
                "patient_id": w.pid,
                "referrer_rpps": own(w, r),
                "target_rpps": w.pro["spare"]["rpps"],
                "reason": "avis spécialisé",
            },
        ),
        PRESENCE,
    ),
    "read a referral": Row(
        "GET /api/referrals/{referral_id}", get(lambda w: f"/api/referrals/{w.referral['id']}"), COORDINATION
    ),
    "accept a referral": Row(
        "POST /api/referrals/{referral_id}/accept",
        lambda w, r: ("POST", f"/api/referrals/{fresh_referral(w)}/accept", {"professional_rpps": own(w, r)}),
        {"referred"},
    ),
    "report on a referral": Row(
        "POST /api/referrals/{referral_id}/report",
        lambda w, r: (
            "POST",
            f"/api/referrals/{fresh_referral(w)}/report",
            {"professional_rpps": own(w, r), "report": "Examen normal."},
        ),
        {"referred"},
    ),
    "cancel a referral": Row(
        "POST /api/referrals/{referral_id}/cancel",
        lambda w, r: ("POST", f"/api/referrals/{fresh_referral(w)}/cancel", {"professional_rpps": own(w, r)}),
        {"gp"},
    ),
    # --- téléexpertise ---
    "ask a téléexpertise in one's own name": Row("POST /api/teleexpertises", ask_teleexpertise, PRESENCE),
    "read a téléexpertise": Row(
        "GET /api/teleexpertises/{teleexpertise_id}",
        get(lambda w: f"/api/teleexpertises/{w.teleexpertise['id']}"),
        COORDINATION,
    ),
    "answer the téléexpertise (as the expert asked)": Row(
        "POST /api/teleexpertises/{teleexpertise_id}/answer",
        lambda w, r: (
            "POST",
            f"/api/teleexpertises/{fresh_teleexpertise(w)}/answer",
            {"expert_rpps": own(w, r), "answer": "Nævus bénin, surveillance."},
        ),
        {"te_expert"},
    ),
    "cancel a téléexpertise": Row(
        "POST /api/teleexpertises/{teleexpertise_id}/cancel",
        lambda w, r: (
            "POST",
            f"/api/teleexpertises/{fresh_teleexpertise(w)}/cancel",
            {"requester_rpps": own(w, r), "reason": "demande faite par erreur"},
        ),
        {"te_requester"},
    ),
    # --- claims ---
    "submit a claim (as the biller)": Row(
        "POST /api/claims",
        post(
            lambda w: "/api/claims",
            lambda w, r: {
                "idempotency_key": "world-claim-0001",
                "patient_id": w.pid,
                "professional_rpps": w.pro["biller"]["rpps"],
                "date": today(),
                "acts": [{"code": "G"}],
            },
        ),
        {"biller"},
    ),
    "submit a claim in one's own name": Row(
        "POST /api/claims",
        post(
            lambda w: "/api/claims",
            lambda w, r: {
                "idempotency_key": key(),
                "patient_id": w.pid,
                "professional_rpps": own(w, r),
                "date": today(),
                "acts": [{"code": "G"}],
            },
        ),
        PRESENCE,
    ),
    "read a claim": Row("GET /api/claims/{claim_id}", get(lambda w: f"/api/claims/{w.claim['id']}"), CLAIM_READERS),
    "claim history": Row(
        "GET /api/claims/{claim_id}/history", get(lambda w: f"/api/claims/{w.claim['id']}/history"), CLAIM_READERS
    ),
    "cancel a claim": Row(
        "POST /api/claims/{claim_id}/cancel",
        lambda w, r: ("POST", f"/api/claims/{fresh_claim(w)}/cancel", {"reason": "saisie en double"}),
        {"biller", "insurer"},
    ),
    "correct a claim": Row(
        "POST /api/claims/{claim_id}/corrections",
        lambda w, r: (
            "POST",
            f"/api/claims/{fresh_claim(w)}/corrections",
            {"idempotency_key": key(), "reason": "acte mal saisi", "acts": [{"code": "G"}]},
        ),
        {"biller", "insurer"},
    ),
    # --- FHIR ---
    "FHIR Patient read": Row("FHIR Patient read", fhir("Patient", lambda w: w.pid), PATIENT_FILE),
    "FHIR Patient search (sees her)": Row(
        "FHIR Patient search", get(lambda w: "/fhir/Patient?_count=200"), LISTED, shows=lists
    ),
    "FHIR Practitioner read": Row(
        "FHIR Practitioner read", fhir("Practitioner", lambda w: w.pro["gp"]["id"]), set(ROLES)
    ),
    "FHIR Practitioner search": Row(
        "FHIR Practitioner search",
        get(lambda w: f"/fhir/Practitioner?identifier=https://rpps.esante.gouv.fr|{w.pro['gp']['rpps']}"),
        set(ROLES),
    ),
    "FHIR PractitionerRole read": Row(
        "FHIR PractitionerRole read", fhir("PractitionerRole", lambda w: w.pro["gp"]["id"]), set(ROLES)
    ),
    "FHIR PractitionerRole search": Row(
        "FHIR PractitionerRole search", get(lambda w: "/fhir/PractitionerRole?specialty=cardiology"), set(ROLES)
    ),
    "FHIR ServiceRequest read": Row(
        "FHIR ServiceRequest read", fhir("ServiceRequest", lambda w: f"referral-{w.referral['id']}"), COORDINATION
    ),
    "FHIR ServiceRequest search": Row("FHIR ServiceRequest search", fhir_search("ServiceRequest"), COORDINATION),
    "FHIR Task read": Row(
        "FHIR Task read", fhir("Task", lambda w: f"teleexpertise-{w.teleexpertise['id']}"), COORDINATION
    ),
    "FHIR Task search": Row("FHIR Task search", fhir_search("Task"), COORDINATION),
    "FHIR Claim read": Row("FHIR Claim read", fhir("Claim", lambda w: w.claim["id"]), CLAIM_READERS),
    "FHIR Claim search": Row("FHIR Claim search", fhir_search("Claim"), CLAIM_LISTS),
    "FHIR ClaimResponse read": Row(
        "FHIR ClaimResponse read", fhir("ClaimResponse", lambda w: w.claim["id"]), CLAIM_READERS
    ),
    "FHIR ClaimResponse search": Row("FHIR ClaimResponse search", fhir_search("ClaimResponse"), CLAIM_LISTS),
    "FHIR ExplanationOfBenefit read": Row(
        "FHIR ExplanationOfBenefit read", fhir("ExplanationOfBenefit", lambda w: w.claim["id"]), CLAIM_READERS
    ),
    "FHIR ExplanationOfBenefit search": Row(
        "FHIR ExplanationOfBenefit search", fhir_search("ExplanationOfBenefit"), CLAIM_LISTS
    ),
    "FHIR read of a masked document": Row(
        "FHIR DocumentReference read", fhir("DocumentReference", lambda w: w.entries["masked"]), SELF | {"gp"}
    ),
    **{
        f"FHIR {kind} {interaction}": Row(
            f"FHIR {kind} {interaction}",
            {
                "read": fhir(kind, lambda w, e=entry: w.entries[e]),
                "search": fhir_search(kind),
                "vread": fhir(kind, lambda w, e=entry: f"{w.entries[e]}/_history/1"),
            }[interaction],
            READ_RECORD,
        )
        for kind, entry in ENTRY_OF.items()
        for interaction in ("read", "vread", "search")
    },
    "FHIR AuditEvent read": Row(
        "FHIR AuditEvent read", lambda w, r: ("GET", f"/fhir/AuditEvent/{last_event(w)}", None), SELF | {"admin"}
    ),
    "FHIR AuditEvent search": Row("FHIR AuditEvent search", fhir_search("AuditEvent"), SELF | {"admin"}),
}


@pytest.fixture
def world(client: TestClient, tokens: Tokens, people: People) -> World:
    return build_world(client, tokens, people)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_matrix(world: World, endpoint: str) -> None:
    row = ENDPOINTS[endpoint]
    allowed, unexpected = set(), {}
    for role in ROLES:
        method, path, body = row.request(world, role)
        response = world.call(role, method, path, body)
        if response.status_code in (200, 201) and (row.shows is None or row.shows(world, response.json())):
            allowed.add(role)
        elif response.status_code not in (200, 201, 403):
            unexpected[role] = (response.status_code, response.text[:200])
    assert unexpected == {}
    assert allowed == row.expected, (
        f"allowed but should not: {allowed - row.expected}; refused: {row.expected - allowed}"
    )


def _operations(database: Database, auth_settings: AuthSettings) -> set[str]:
    app = create_app(database, auth_settings)
    found = {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() for method in ops}
    generic = {"GET /fhir/{resource_type}/{resource_id}", "GET /fhir/{resource_type}",
               "GET /fhir/{resource_type}/{resource_id}/_history/{version_id}"}  # fmt: skip
    assert generic <= found  # the FHIR server's routes, one per interaction, covered type by type below
    providers = fhir_server().providers.values()
    per_type = {f"FHIR {p.resource_type} {i}" for p in providers for i in ("read", "search")}
    versioned = {f"FHIR {p.resource_type} vread" for p in providers if getattr(p, "versioned", False)}
    return (found - generic) | per_type | versioned


def test_every_endpoint_is_in_the_matrix(database: Database, auth_settings: AuthSettings) -> None:
    operations = _operations(database, auth_settings)
    covered = {row.route for row in ENDPOINTS.values()}
    assert covered <= operations, f"rows naming no route of the application: {covered - operations}"
    assert operations - covered - set(PUBLIC) == set(), "endpoints missing from the access matrix"


def test_every_endpoint_but_the_public_ones_asks_who_calls(
    database: Database, auth_settings: AuthSettings, tokens: Tokens
) -> None:
    client = TestClient(create_app(database, auth_settings))
    for operation in sorted(_operations(database, auth_settings) - set(PUBLIC)):
        if operation.startswith("FHIR "):
            _, resource_type, interaction = operation.split()
            suffix = {"read": "/x", "vread": "/x/_history/1"}.get(interaction, "")
            method, path = "GET", f"/fhir/{resource_type}{suffix}"
        else:
            method, template = operation.split(" ", 1)
            path = template.replace("{", "").replace("}", "")
        response = client.request(method, path, json={})
        assert response.status_code == 401, (operation, response.status_code)
    for operation in PUBLIC:
        method, path = operation.split(" ", 1)
        if method == "GET":
            assert client.get(path).status_code == 200, operation


def test_refusals_are_traced(world: World) -> None:
    before = world.ok(world.call("admin", "GET", f"/api/record/{world.pid}/access-history"))["total"]
    assert world.call("unrelated", "GET", f"/api/record/{world.pid}/entries").status_code == 403
    history = world.ok(world.call("self", "GET", f"/api/record/{world.pid}/access-history"))
    refused = [item for item in history["items"] if not item["allowed"]]
    assert refused[0]["actor"] == f"professional:{world.pro['unrelated']['rpps']}"
    assert "non-opposition" in refused[0]["ground"]
    assert history["total"] >= before + 1


PROBES = [
    ("GET", "/api/patients/{}"), ("GET", "/api/patients/{}/referrals"), ("GET", "/api/patients/{}/claims"),
    ("GET", "/api/record/{}/entries"), ("GET", "/api/record/{}/access-history"), ("GET", "/fhir/Patient/{}"),
    ("GET", "/fhir/DocumentReference?patient=Patient/{}"), ("POST", "/api/record/{}/emergency-access"),
]  # fmt: skip


@pytest.mark.parametrize("role", ["unrelated", "other_patient", "parent"])
def test_an_unknown_patient_looks_like_someone_elses(world: World, role: str) -> None:
    """Trying identifiers teaches nothing: an unknown patient is refused like an existing one the caller has nothing
    to do with (Léa's mother trying another child, an unrelated doctor, another patient)."""
    stranger = world.people.patient()  # exists, nobody in the world treats him
    for method, template in PROBES:
        body = {"reason": "urgence vitale supposée"} if method == "POST" else None
        known = world.call(role, method, template.format(stranger["id"]), body)
        unknown = world.call(role, method, template.format("00000000-0000-0000-0000-000000000000"), body)
        if role == "unrelated" and method == "POST":  # a bris de glace is open to any professional
            assert (known.status_code, unknown.status_code) == (201, 404)
            continue
        assert known.status_code == unknown.status_code, (template, known.text, unknown.text)
        assert known.json() == unknown.json()
        assert known.status_code == (200 if template.endswith("/claims") and role == "unrelated" else 403)


def test_who_may_see_any_patient_is_told_it_does_not_exist(world: World) -> None:
    for role in ("insurer", "admin"):
        assert world.call(role, "GET", "/api/patients/00000000-0000-0000-0000-000000000000").status_code == 404
