"""Audit entries as FHIR AuditEvent (ANS TDEAuditEvent model): valid R4, one subtype, period.start, ≤ 2 agents."""

from __future__ import annotations

import datetime as dt

from parcours.api.fhir.audit_event import CHAIN_EXTENSION, NamedPatient, audit_event
from parcours.record.audit import GENESIS_HASH, AuditDraft, AuditEntry, Outcome, seal
from parcours.rules.identifiers import nir_with_key

NIR = nir_with_key("2850475123456")


def entry(**changes: object) -> AuditEntry:
    base = {
        "actor": "professional:10000000009",
        "actor_role": "professional",
        "action": "read",
        "operation": "record.entry.read",
        "outcome": Outcome.ALLOWED,
        "basis": "emergency",
        "purpose": "emergency",
        "patient_nir": NIR,
        "resource_type": "DocumentReference",
        "resource_id": "abc",
        "reason": "patient inconscient",
        "actor_name": "Dr Urgence",
    }
    base.update(changes)
    draft = AuditDraft(**base)  # type: ignore[arg-type]
    return seal(
        draft, sequence=7, recorded_at=dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC), previous_hash=GENESIS_HASH
    )


def test_a_bris_de_glace_read() -> None:
    event = audit_event(entry())
    assert event["resourceType"] == "AuditEvent"
    assert event["id"] == "7"
    assert event["action"] == "R"
    assert event["subtype"] == [{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}]
    assert event["period"]["start"].startswith("2026-03-02T09:30:00")
    assert len(event["agent"]) <= 2
    assert event["agent"][0]["who"]["identifier"]["value"] == "10000000009"
    purpose = event["purposeOfEvent"][0]
    assert (purpose["coding"][0]["code"], purpose["text"]) == ("ETREAT", "patient inconscient")
    assert event["outcome"] == "0"
    assert "bris de glace" in event["outcomeDesc"]
    assert event["entity"][0]["what"]["identifier"]["value"] == NIR
    assert "reference" not in event["entity"][0]["what"]  # a NIR the store was not asked about: named only
    assert event["entity"][1]["what"]["reference"] == "DocumentReference/abc"
    chain = {item["url"]: item for item in event["extension"][0]["extension"]}
    assert event["extension"][0]["url"] == CHAIN_EXTENSION
    assert chain["sequence"]["valueInteger"] == 7
    assert len(chain["hash"]["valueString"]) == 64


def test_a_refused_write_by_a_patient() -> None:
    event = audit_event(
        entry(
            actor=f"patient:{NIR}",
            actor_role="patient",
            action="write",
            operation="record.mask.create",
            outcome=Outcome.REFUSED,
            basis="other_patient",
            purpose="patient",
            reason=None,
        )
    )
    assert (event["action"], event["outcome"]) == ("C", "4")
    assert event["agent"][0]["who"]["type"] == "Patient"
    assert event["outcomeDesc"].startswith("refusé")
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "PATRQT"


def test_the_patient_is_referenced_beside_the_nir() -> None:
    """A client follows ``Patient/<id>``; the NIR stays, in the patient's INS space (a demo patient's test OID)."""
    event = audit_event(entry(), {NIR: NamedPatient("p-42", "urn:oid:1.2.250.1.213.1.4.10")})
    what = event["entity"][0]["what"]
    assert what["reference"] == "Patient/p-42"
    assert what["identifier"] == {"system": "urn:oid:1.2.250.1.213.1.4.10", "value": NIR}
    production = audit_event(entry(), {NIR: NamedPatient("p-42", None)})["entity"][0]["what"]["identifier"]
    assert production["system"] == "urn:oid:1.2.250.1.213.1.4.8"
