"""The shared record through the API: masked documents, minors and their parents, bris de glace, the patient's
controls, reports that land in the record, coherence flags, the access history and the FHIR views."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from parcours.record import audit_log
from parcours.store.db import Database
from parcours.store.record import EmergencyAccess
from tests.api.conftest import People, new_nir
from tests.api.record_world import EMERGENCY_REASON, World, build_world, document
from tests.conftest import Tokens

ATC = "http://www.whocc.no/atc"


@pytest.fixture
def world(client: TestClient, tokens: Tokens, people: People) -> World:
    return build_world(client, tokens, people)


def entries(world: World, role: str, **params: Any) -> dict[str, Any]:
    response = world.client.get(f"/api/record/{world.pid}/entries", params=params, headers=world.as_(role))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def ids(page: dict[str, Any]) -> set[str]:
    return {item["id"] for item in page["items"]}


def world_attestation(
    client: TestClient, tokens: Tokens, patient: dict[str, Any], professional: dict[str, Any], signer: str
) -> str:
    response = client.post(f"/api/patients/{patient['id']}/vitale-attestations",
                           json={"professional_rpps": professional["rpps"]}, headers=tokens.patient(signer))  # fmt: skip
    assert response.status_code == 201, response.text
    token: str = response.json()["vitale_attestation"]
    return token


def history(world: World, role: str = "self") -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = world.ok(
        world.call(role, "GET", f"/api/record/{world.pid}/access-history?limit=200")
    )["items"]
    return items


# --- masked documents ---------------------------------------------------------------------------------------------


def test_the_mt_sees_a_masked_document_labelled_restricted(world: World) -> None:
    page = entries(world, "gp")
    masked = next(item for item in page["items"] if item["id"] == world.entries["masked"])
    assert masked["masked"] is True
    assert masked["resource"]["meta"]["security"][0]["code"] == "R"


def test_other_professionals_do_not_see_it_nor_count_it(world: World) -> None:
    for role in ("referred", "biller", "non_opposed", "emergency"):
        page = entries(world, role)
        assert world.entries["masked"] not in ids(page)
        assert page["total"] == len(world.entries) - 1


def test_unmasking_shows_it_again(world: World) -> None:
    path = f"/api/record/{world.pid}/entries/{world.entries['masked']}/mask"
    world.ok(world.call("self", "DELETE", path))
    assert world.entries["masked"] in ids(entries(world, "referred"))


# --- minors and their parents ---------------------------------------------------------------------------------------


def test_the_parent_reads_and_sets_controls_for_the_minor(world: World) -> None:
    assert world.entries["masked"] in ids(entries(world, "parent"))
    world.ok(world.call("parent", "POST", f"/api/record/{world.pid}/entries/{world.entries['plain']}/mask", {}))
    assert world.entries["plain"] not in ids(entries(world, "referred"))


def test_a_minor_keeps_an_entry_secret_from_the_parents(world: World) -> None:
    path = f"/api/record/{world.pid}/entries/{world.entries['spare']}/mask"
    world.ok(world.call("self", "POST", path, {"scope": "representatives"}))
    assert world.entries["spare"] not in ids(entries(world, "parent"))
    assert world.entries["spare"] in ids(entries(world, "gp"))  # not hidden from the care team
    # the parent gets the answer of an entry that does not exist, not a refusal that names the secret
    secret = world.call("parent", "GET", f"/api/record/{world.pid}/entries/{world.entries['spare']}")
    missing = world.call("parent", "GET", f"/api/record/{world.pid}/entries/no-such-entry")
    assert (secret.status_code, secret.json()) == (404, missing.json())
    fhir = world.call("parent", "GET", f"/fhir/DocumentReference/{world.entries['spare']}")
    assert fhir.status_code == 404
    assert "secret" not in fhir.text
    assert world.call("parent", "DELETE", f"{path}?scope=representatives").status_code == 404
    controls = world.ok(world.call("parent", "GET", f"/api/record/{world.pid}/controls"))
    assert all(mask["scope"] != "representatives" for mask in controls["masked_entries"])


def test_the_parents_history_shows_nothing_of_the_minors_secret(world: World) -> None:
    spare = world.entries["spare"]
    world.ok(world.call("self", "POST", f"/api/record/{world.pid}/entries/{spare}/mask", {"scope": "representatives"}))
    world.ok(world.call("gp", "GET", f"/api/record/{world.pid}/entries/{spare}"))  # the MT reads it
    world.call("parent", "GET", f"/api/record/{world.pid}/entries/{spare}")  # the parent tries
    about_secret = [item for item in history(world, "self") if item["resource_id"] == spare]
    operations = {item["operation"] for item in about_secret}
    assert {"record.mask.create", "record.entry.read"} <= operations  # the minor sees it all
    parent_view = history(world, "parent")
    assert parent_view
    assert all(item["resource_id"] != spare for item in parent_view)
    assert all(item["detail"] != "tenu secret vis-à-vis des représentants légaux" for item in parent_view)
    events = world.ok(world.call("parent", "GET", f"/fhir/AuditEvent?patient=Patient/{world.pid}&_count=200"))
    assert events["total"] == len(parent_view) + 1  # the FHIR search itself is traced before it reads
    assert spare not in str(events)
    sequence = next(item["sequence"] for item in about_secret)
    assert world.call("parent", "GET", f"/fhir/AuditEvent/{sequence}").status_code == 404
    # searches say how many entries were visible to whoever searched, never how many were hidden from them
    world.ok(world.call("parent", "GET", f"/api/record/{world.pid}/entries"))
    world.ok(world.call("self", "GET", f"/api/record/{world.pid}/entries"))
    searches = [item for item in history(world, "parent") if item["operation"] == "record.entries.search"]
    assert len(searches) >= 2
    assert all(re.fullmatch(r"\d+ entrée\(s\) lue\(s\) sur \d+ visible\(s\)", item["detail"]) for item in searches)
    assert world.call("self", "GET", f"/fhir/AuditEvent/{sequence}").status_code == 200


def test_a_legal_representative_is_lifted_by_the_front_desk(world: World) -> None:
    assert world.call("parent", "GET", f"/api/record/{world.pid}/entries").status_code == 200
    world.ok(world.call("admin", "DELETE", f"/api/record/{world.pid}/representatives/{world.parent_nir}"))
    assert world.call("parent", "GET", f"/api/record/{world.pid}/entries").status_code == 403
    assert world.call("parent", "GET", f"/api/patients/{world.pid}").status_code == 403
    listed = world.ok(world.call("parent", "GET", "/api/patients"))
    assert world.pid not in {p["id"] for p in listed["items"]}


def test_a_nir_written_on_a_declaration_makes_nobody_a_representative(
    client: TestClient, tokens: Tokens, people: People
) -> None:
    child = people.patient(birth_date="2015-06-01", given_name="Tom")
    mother = new_nir(sex="2", year="84")
    gp = people.professional()
    # the child attests for himself: the doctor writes a NIR of his choosing as the declaring parent
    attestation = world_attestation(client, tokens, child, gp, child["nir"])
    response = client.post("/api/declarations", headers=tokens.professional(gp["rpps"]), json={
        "patient_id": child["id"], "professional_rpps": gp["rpps"], "representative_nir": mother,
        "vitale_attestation": attestation})  # fmt: skip
    assert response.status_code == 403
    assert response.json()["detail"][0]["field"] == "vitale_attestation"
    assert client.get(f"/api/record/{child['id']}/entries", headers=tokens.patient(mother)).status_code == 403


def test_parents_no_longer_act_for_an_adult(client: TestClient, tokens: Tokens, people: People) -> None:
    adult = people.patient(birth_date="2001-02-03")
    parent = "285047512345607"
    assert client.post(f"/api/record/{adult['id']}/representatives", json={"nir": parent}).status_code == 200
    refused = client.get(f"/api/record/{adult['id']}/entries", headers=tokens.patient(parent))
    assert refused.status_code == 403
    assert "majeur" in refused.json()["detail"][0]["message"]


# --- bris de glace ----------------------------------------------------------------------------------------------------


def test_the_emergency_access_is_shown_to_the_patient_with_its_reason(world: World) -> None:
    entries(world, "emergency")
    emergency = [item for item in history(world) if item["emergency"]]
    assert {item["operation"] for item in emergency} >= {"record.emergency_access.create", "record.entries.search"}
    assert all(item["reason"] == EMERGENCY_REASON for item in emergency)
    assert all(item["actor"] == f"professional:{world.pro['emergency']['rpps']}" for item in emergency)
    controls = world.ok(world.call("self", "GET", f"/api/record/{world.pid}/controls"))
    assert controls["emergency_accesses"][0]["reason"] == EMERGENCY_REASON


def test_emergency_access_is_read_only(world: World) -> None:
    response = world.call("emergency", "POST", f"/api/record/{world.pid}/entries", document("note"))
    assert response.status_code == 403


def test_a_reason_is_required(world: World) -> None:
    response = world.call("unrelated", "POST", f"/api/record/{world.pid}/emergency-access", {"reason": ""})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "reason"


def test_opposition_refuses_emergency_access_and_is_traced(world: World) -> None:
    world.ok(world.call("self", "PUT", f"/api/record/{world.pid}/opposition", {"emergency_access": True}))
    assert world.call("emergency", "GET", f"/api/record/{world.pid}/entries").status_code == 403
    opened = world.call("unrelated", "POST", f"/api/record/{world.pid}/emergency-access", {"reason": "malaise grave"})
    assert opened.status_code == 403
    refused = [item for item in history(world) if not item["allowed"]]
    assert refused[0]["operation"] == "record.emergency_access.create"
    assert refused[0]["reason"] == "malaise grave"
    world.ok(world.call("self", "PUT", f"/api/record/{world.pid}/opposition", {"emergency_access": False}))
    assert world.call("emergency", "GET", f"/api/record/{world.pid}/entries").status_code == 200


def test_an_expired_emergency_access_no_longer_opens_the_record(world: World, database: Database) -> None:
    with database.unit_of_work() as session:
        session.execute(update(EmergencyAccess).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)))
    assert world.call("emergency", "GET", f"/api/record/{world.pid}/entries").status_code == 403


# --- non-opposition and blocks ----------------------------------------------------------------------------------------


def test_non_opposition_then_its_withdrawal(world: World) -> None:
    path = f"/api/record/{world.pid}"
    assert world.call("unrelated", "GET", f"{path}/entries").status_code == 403
    world.ok(world.call("unrelated", "POST", f"{path}/non-oppositions", {}))
    assert world.call("unrelated", "GET", f"{path}/entries").status_code == 200
    world.ok(world.call("self", "DELETE", f"{path}/non-oppositions/{world.pro['unrelated']['rpps']}"))
    assert world.call("unrelated", "GET", f"{path}/entries").status_code == 403


def test_a_professional_cannot_attest_for_someone_else(world: World) -> None:
    body = {"rpps": world.pro["unrelated"]["rpps"]}
    assert world.call("gp", "POST", f"/api/record/{world.pid}/non-oppositions", body).status_code == 403


def test_blocking_the_mt_closes_the_record_to_them_and_unblocking_reopens_it(world: World) -> None:
    path = f"/api/record/{world.pid}"
    world.ok(world.call("self", "POST", f"{path}/blocks", {"rpps": world.pro["gp"]["rpps"]}))
    assert world.call("gp", "GET", f"{path}/entries").status_code == 403
    world.ok(world.call("self", "DELETE", f"{path}/blocks/{world.pro['gp']['rpps']}"))
    assert world.call("gp", "GET", f"{path}/entries").status_code == 200


# --- entries ----------------------------------------------------------------------------------------------------------


def test_an_entry_is_signed_by_its_author(world: World) -> None:
    created = world.ok(world.call("referred", "POST", f"/api/record/{world.pid}/entries", document("Échographie")))
    assert created["author"] == world.pro["referred"]["rpps"]
    assert created["resource"]["author"][0]["identifier"]["value"] == world.pro["referred"]["rpps"]
    assert created["resource"]["subject"]["identifier"]["value"] == world.patient["nir"]


def test_a_bad_entry_names_every_field(world: World) -> None:
    body = {**document("x"), "status": "draft", "author": [{"reference": "Practitioner/someone"}]}
    response = world.call("gp", "POST", f"/api/record/{world.pid}/entries", body)
    assert response.status_code == 422
    assert {item["field"] for item in response.json()["detail"]} == {"status", "author"}


def test_an_unknown_record_is_refused_like_someone_elses(world: World) -> None:
    unknown = world.call("gp", "GET", "/api/record/nobody/entries")
    other = world.call("gp", "GET", f"/api/record/{world.other['id']}/entries")
    assert unknown.status_code == other.status_code == 403
    assert unknown.json() == other.json()
    # to whom a bris de glace is open, no secret: the record of nobody is not found
    assert world.call("gp", "POST", "/api/record/nobody/emergency-access", {"reason": "malaise"}).status_code == 404


def test_the_record_is_found_by_nir_too(world: World) -> None:
    assert world.call("self", "GET", f"/api/record/{world.patient['nir']}/entries").status_code == 200


# --- reports land in the record -------------------------------------------------------------------------------------


def test_the_referral_report_lands_in_the_record(world: World) -> None:
    report = "Échocardiographie normale. Souffle fonctionnel."
    world.ok(
        world.call(
            "referred", "POST", f"/api/referrals/{world.referral['id']}/report",
            {"professional_rpps": world.pro["referred"]["rpps"], "report": report},
        )
    )  # fmt: skip
    landed = [item for item in entries(world, "gp")["items"] if item["source"] == f"referral:{world.referral['id']}"]
    assert len(landed) == 1
    resource = landed[0]["resource"]
    assert landed[0]["author"] == world.pro["referred"]["rpps"]
    assert base64.b64decode(resource["content"][0]["attachment"]["data"]).decode() == report
    assert resource["context"]["related"][0]["reference"] == f"ServiceRequest/referral-{world.referral['id']}"


def test_the_teleexpertise_answer_lands_in_the_record(world: World) -> None:
    body = {"expert_rpps": world.pro["te_expert"]["rpps"], "answer": "Nævus bénin, surveillance annuelle."}
    world.ok(world.call("te_expert", "POST", f"/api/teleexpertises/{world.teleexpertise['id']}/answer", body))
    landed = [item for item in entries(world, "te_requester")["items"] if item["source"]]
    assert [item["author"] for item in landed] == [world.pro["te_expert"]["rpps"]]


def test_a_blocked_specialist_report_does_not_feed_the_record(world: World) -> None:
    blocked = world.ok(world.call("gp", "GET", f"/api/patients/{world.pid}/referrals"))["items"]
    referral = next(r for r in blocked if r["target"] and r["target"]["rpps"] == world.pro["blocked"]["rpps"])
    body = {"professional_rpps": world.pro["blocked"]["rpps"], "report": "RAS"}
    world.ok(world.call("blocked", "POST", f"/api/referrals/{referral['id']}/report", body))
    assert all(item["source"] != f"referral:{referral['id']}" for item in entries(world, "gp")["items"])
    refused = [item for item in history(world) if not item["allowed"]]
    assert refused[0]["actor"] == f"professional:{world.pro['blocked']['rpps']}"


# --- coherence --------------------------------------------------------------------------------------------------------


def statin(world: World, role: str) -> str:
    body = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "C10AA05", "display": "atorvastatine"}]},
    }
    return str(world.ok(world.call(role, "POST", f"/api/record/{world.pid}/entries", body))["id"])


def test_two_prescribers_of_the_same_substance_are_flagged(world: World) -> None:
    first, second = statin(world, "gp"), statin(world, "referred")
    flags = world.ok(world.call("gp", "GET", f"/api/record/{world.pid}/coherence"))
    assert [(flag["rule"], set(flag["entries"])) for flag in flags] == [("duplicate_treatment", {first, second})]


def prescribed(world: World, role: str, prescriber: str) -> str:
    """A statin recorded by ``role`` from the prescription of ``prescriber`` (RPPS), as FHIR carries it."""
    concept = {"coding": [{"system": ATC, "code": "C10AA05", "display": "atorvastatine"}]}
    body = {
        "resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": concept,
        "contained": [{"resourceType": "MedicationRequest", "id": "rx", "status": "active", "intent": "order",
                       "medicationCodeableConcept": concept, "subject": {"display": "la patiente"},
                       "requester": {"identifier": {"system": "https://rpps.esante.gouv.fr", "value": prescriber}}}],
        "derivedFrom": [{"reference": "#rx"}],
    }  # fmt: skip
    return str(world.ok(world.call(role, "POST", f"/api/record/{world.pid}/entries", body))["id"])


def test_the_mt_transcribing_two_specialists_prescriptions_is_flagged(world: World) -> None:
    first = prescribed(world, "gp", world.pro["referred"]["rpps"])
    second = prescribed(world, "gp", world.pro["te_expert"]["rpps"])
    flags = world.ok(world.call("gp", "GET", f"/api/record/{world.pid}/coherence"))
    assert [(flag["rule"], set(flag["entries"])) for flag in flags] == [("duplicate_treatment", {first, second})]


def test_the_patient_and_her_doctor_recording_one_prescription_is_not_flagged(world: World) -> None:
    statin(world, "gp")  # the GP records his own prescription
    prescribed(world, "self", world.pro["gp"]["rpps"])  # Léa notes the same treatment, from his prescription
    assert world.ok(world.call("gp", "GET", f"/api/record/{world.pid}/coherence")) == []


def test_a_flag_never_reveals_a_masked_entry(world: World) -> None:
    first, second = statin(world, "gp"), statin(world, "referred")
    world.ok(world.call("self", "POST", f"/api/record/{world.pid}/entries/{first}/mask", {}))
    assert world.ok(world.call("referred", "GET", f"/api/record/{world.pid}/coherence")) == []
    assert len(world.ok(world.call("gp", "GET", f"/api/record/{world.pid}/coherence"))) == 1
    assert second


# --- access history and FHIR ----------------------------------------------------------------------------------------


def test_every_read_is_in_the_access_history(world: World) -> None:
    world.ok(world.call("referred", "GET", f"/api/record/{world.pid}/entries/{world.entries['plain']}"))
    reads = [
        item for item in history(world)
        if item["operation"] == "record.entry.read" and item["resource_id"] == world.entries["plain"]
    ]  # fmt: skip
    assert reads[0]["actor"] == f"professional:{world.pro['referred']['rpps']}"
    assert reads[0]["allowed"] is True
    assert "orienté" in reads[0]["ground"]


def test_a_read_traced_while_the_chain_is_busy_is_in_the_history_and_the_audit_events(
    world: World, database: Database
) -> None:
    """Another transaction holds the audit chain's head: the read is served all the same, its trace pending; the
    patient's history and the AuditEvent search chain it first and show it, and the chain verifies."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("the head's row lock is PostgreSQL's (SQLite has one writer at a time)")
    plain = world.entries["plain"]
    world.ok(world.call("self", "GET", f"/api/record/{world.pid}/access-history"))  # the head exists
    with database.engine.connect() as holder:
        holder.execute(text("SELECT * FROM audit_head WHERE id = 1 FOR UPDATE"))
        world.ok(world.call("referred", "GET", f"/api/record/{world.pid}/entries/{plain}"))
        with database.engine.connect() as connection:
            pending = connection.execute(text("SELECT resource_id FROM audit_pending")).scalars().all()
        assert pending == [plain]
        holder.rollback()
    reads = [
        item for item in history(world) if item["operation"] == "record.entry.read" and item["resource_id"] == plain
    ]
    assert [item["actor"] for item in reads] == [f"professional:{world.pro['referred']['rpps']}"]
    events = world.ok(world.call("self", "GET", f"/fhir/AuditEvent?patient=Patient/{world.pid}&_count=200"))
    assert any(f"DocumentReference/{plain}" in str(event["resource"]["entity"]) for event in events["entry"])
    with database.unit_of_work() as session:
        assert audit_log.verify_store(session).ok


def test_the_capability_statement_lists_the_record(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    served = {resource["type"] for resource in statement["rest"][0]["resource"]}
    assert served >= {"DocumentReference", "AllergyIntolerance", "MedicationStatement", "Condition", "Immunization",
                      "Observation", "AuditEvent"}  # fmt: skip


def test_fhir_search_and_read(world: World) -> None:
    bundle = world.ok(world.call("gp", "GET", f"/fhir/DocumentReference?patient=Patient/{world.pid}&_count=2"))
    assert (bundle["resourceType"], bundle["type"], bundle["total"]) == ("Bundle", "searchset", 3)
    assert len(bundle["entry"]) == 2
    one = world.ok(world.call("gp", "GET", f"/fhir/DocumentReference/{world.entries['masked']}"))
    assert one["meta"]["security"][0]["code"] == "R"
    own = world.ok(world.call("self", "GET", "/fhir/Condition"))  # a patient searches their own record by default
    assert own["total"] == 1


def test_fhir_refusal_is_an_operation_outcome(world: World) -> None:
    response = world.call("unrelated", "GET", f"/fhir/DocumentReference/{world.entries['plain']}")
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["issue"][0]["code"] == "forbidden"


def test_fhir_without_token_is_401(client: TestClient) -> None:
    response = client.get("/fhir/Patient", headers={"Authorization": ""})
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"


def test_audit_events_for_the_patient_and_the_administrator(world: World) -> None:
    mine = world.ok(world.call("self", "GET", f"/fhir/AuditEvent?patient=Patient/{world.pid}&_count=200"))
    assert mine["total"] >= 8
    event = mine["entry"][0]["resource"]
    assert event["resourceType"] == "AuditEvent"
    assert event["period"]["start"]
    everything = world.ok(world.call("admin", "GET", "/fhir/AuditEvent?date=ge2020-01-01"))
    assert everything["total"] >= mine["total"]
    assert world.call("gp", "GET", "/fhir/AuditEvent").status_code == 403
    one = world.ok(world.call("admin", "GET", f"/fhir/AuditEvent/{event['id']}"))
    assert one["id"] == event["id"]


def test_a_search_and_an_export_name_each_entry_they_returned(world: World) -> None:
    page = entries(world, "referred", limit=2)
    world.ok(world.call("referred", "GET", f"/api/record/{world.pid}/export"))
    mine = history(world)
    search = next(h for h in mine if h["operation"] == "record.entries.search" and h["actor"].endswith(
        world.pro["referred"]["rpps"]))  # fmt: skip
    assert search["entities"] == [f"{item['resource_type']}/{item['id']}" for item in page["items"]]
    export = next(h for h in mine if h["operation"] == "record.export")
    assert {e.rpartition("/")[2] for e in export["entities"]} == set(world.entries.values()) - {world.entries["masked"]}
    event = world.ok(world.call("self", "GET", f"/fhir/AuditEvent/{export['sequence']}"))
    listed = {e["what"]["reference"] for e in event["entity"] if e.get("description") == "ressource renvoyée"}
    assert listed == set(export["entities"])
    # a parent does not learn that the MT read what the minor keeps secret from them
    spare = world.entries["spare"]
    world.ok(world.call("self", "POST", f"/api/record/{world.pid}/entries/{spare}/mask", {"scope": "representatives"}))
    world.ok(world.call("gp", "GET", f"/api/record/{world.pid}/export"))
    gp_export = next(h for h in history(world, "parent") if h["operation"] == "record.export")
    assert gp_export["entities"]
    assert all(not e.endswith(spare) for e in gp_export["entities"])
    event = world.ok(world.call("parent", "GET", f"/fhir/AuditEvent/{gp_export['sequence']}"))
    assert spare not in str(event)
    assert spare in str(world.ok(world.call("self", "GET", f"/fhir/AuditEvent/{gp_export['sequence']}")))


# --- the clinical text of coordination items is record data ---------------------------------------------------------


def _reported(world: World, text: str) -> str:
    world.ok(world.call("referred", "POST", f"/api/referrals/{world.referral['id']}/report",
                        {"professional_rpps": world.pro["referred"]["rpps"], "report": text}))  # fmt: skip
    landed = [e for e in entries(world, "gp")["items"] if e["source"] == f"referral:{world.referral['id']}"]
    entry_id: str = landed[0]["id"]
    return entry_id


def test_a_masked_report_is_left_out_of_the_referral_for_the_rest_of_the_care_team(world: World) -> None:
    report = "Souffle organique : bilan à compléter"
    entry_id = _reported(world, report)
    world.ok(world.call("self", "POST", f"/api/record/{world.pid}/entries/{entry_id}/mask", {}))
    rid = world.referral["id"]
    for role in ("gp", "referred", "self", "parent"):  # the MT, the author, the patient and her mother read it
        assert world.ok(world.call(role, "GET", f"/api/referrals/{rid}"))["report"] == report
    for role in ("biller", "non_opposed", "emergency"):
        seen = world.ok(world.call(role, "GET", f"/api/referrals/{rid}"))
        assert seen["report"] is None
        assert seen["reason"] == "souffle cardiaque à explorer"  # the reason is not masked
        assert "masqué" in seen["note"]
        listed = world.ok(world.call(role, "GET", f"/api/patients/{world.pid}/referrals"))["items"]
        assert report not in str(listed)
        task = world.ok(world.call(role, "GET", f"/fhir/Task/referral-{rid}"))
        assert "output" not in task
        assert "masqué" in task["note"][0]["text"]
        tasks = world.ok(world.call(role, "GET", f"/fhir/Task?patient=Patient/{world.pid}"))
        assert report not in str(tasks)
    assert report in str(world.ok(world.call("gp", "GET", f"/fhir/Task/referral-{rid}")))


def test_a_blocked_professional_named_on_a_referral_gets_no_clinical_text(world: World) -> None:
    mine = world.ok(world.call("blocked", "GET", f"/api/professionals/{world.pro['blocked']['id']}/referrals"))
    assert mine["items"]
    assert all(item["reason"] is None for item in mine["items"])
    assert all(item["note"] for item in mine["items"])


def test_every_read_of_a_clinical_text_is_traced(world: World) -> None:
    entry_id = _reported(world, "Échocardiographie normale")
    world.ok(world.call("self", "POST", f"/api/record/{world.pid}/entries/{entry_id}/mask", {}))
    rid = world.referral["id"]
    before = {h["sequence"] for h in history(world)}
    world.ok(world.call("biller", "GET", f"/api/referrals/{rid}"))
    world.ok(world.call("gp", "GET", f"/fhir/ServiceRequest?patient=Patient/{world.pid}"))
    world.ok(world.call("te_expert", "GET", f"/api/teleexpertises/{world.teleexpertise['id']}"))
    new = [h for h in history(world) if h["sequence"] not in before]
    biller = [h for h in new if h["actor"].endswith(world.pro["biller"]["rpps"]) and h["operation"] == "referral.read"]
    assert {(h["allowed"], h["resource_id"]) for h in biller} == {(True, rid), (False, rid)}  # reason; not the report
    gp = next(h for h in new if h["operation"] == "fhir.ServiceRequest.search")
    assert f"ServiceRequest/referral-{rid}" in gp["entities"]
    assert any(h["operation"] == "teleexpertise.read" and h["allowed"] for h in new)
