"""Audit entries as FHIR R4 ``AuditEvent``, on the model of the ANS *Traçabilité des événements* profile
(``TDEAuditEvent``: one subtype, ``period.start`` required, at most two agents, ``agent.who`` required).

The chain position (sequence) and hash go in an extension so that an external verifier can re-check the chain from
the FHIR view alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, NamedTuple

from fhir.resources.R4B.auditevent import AuditEvent

from parcours.api.fhir.mappings import REFERRAL_PREFIX, TELEEXPERTISE_PREFIX
from parcours.record.access import PURPOSE_OF_USE, Basis, Decision, Purpose
from parcours.record.audit import AuditEntry, Outcome
from parcours.record.entries import ENTRY_KINDS, INS_NIR_SYSTEM, RPPS_SYSTEM

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
OBJECT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
CHAIN_EXTENSION = "urn:parcours:fhir:StructureDefinition:audit-chain"
PARCOURS_ACTOR_SYSTEM = "urn:parcours:actor"
COORDINATION_ITEM_SYSTEM = "urn:parcours:coordination-item"
# a referral or a téléexpertise traced under its row id: its FHIR id carries the kind, told by the operation
_COORDINATION_TYPES = frozenset({"ServiceRequest", "Task"})
# the types served under /fhir (a test holds this to the server's providers): only these are referenced
SERVED_TYPES = frozenset({"Patient", "Practitioner", "PractitionerRole", "ServiceRequest", "Task", "Claim",
                          "ClaimResponse", "ExplanationOfBenefit", "AuditEvent",
                          *(kind.resource_type for kind in ENTRY_KINDS.values())})  # fmt: skip
UNSERVED_SYSTEM = "urn:parcours:resource:"  # + the type: what the server does not serve is named, not referenced


def _named_or_referenced(resource_type: str, resource_id: str) -> dict[str, Any]:
    if resource_type in SERVED_TYPES:
        return {"reference": f"{resource_type}/{resource_id}"}
    return {"identifier": {"system": f"{UNSERVED_SYSTEM}{resource_type}", "value": resource_id}}


_COORDINATION_PREFIXES = (("referral", REFERRAL_PREFIX), ("teleexpertise", TELEEXPERTISE_PREFIX))

# the last word of an operation name says what was done: record.entry.read, record.entries.search…
_INTERACTIONS = {
    "read": ("R", "read"),
    "search": ("R", "search-type"),
    "export": ("R", "search-type"),
    "history": ("R", "history-instance"),
    "create": ("C", "create"),
    "update": ("U", "update"),
    "delete": ("D", "delete"),
}


def _interaction(operation: str, action: str) -> tuple[str, str]:
    last = operation.rsplit(".", 1)[-1]
    if last in _INTERACTIONS:
        return _INTERACTIONS[last]
    return ("R", "read") if action == "read" else ("E", "operation")


def _what(entry: AuditEntry) -> dict[str, Any]:
    """The resource acted on, by a reference that resolves under ``/fhir``."""
    assert entry.resource_type is not None
    what: dict[str, Any] = {"type": entry.resource_type}
    resource_id = entry.resource_id
    prefixed = resource_id is not None and resource_id.startswith((REFERRAL_PREFIX, TELEEXPERTISE_PREFIX))
    if resource_id and entry.resource_type in _COORDINATION_TYPES and not prefixed:
        operation = entry.operation.lower()
        returned = [ref.partition("/")[2] for ref in entry.entity_ids]  # a search names what it returned by FHIR id
        prefix = next((p for word, p in _COORDINATION_PREFIXES if word in operation or f"{p}{resource_id}" in returned),
                      None)  # fmt: skip
        if prefix is None:  # the kind is unknown: named, not referenced
            what["identifier"] = {"system": COORDINATION_ITEM_SYSTEM, "value": resource_id}
            return what
        resource_id = f"{prefix}{resource_id}"
    if resource_id:
        what.update(_named_or_referenced(entry.resource_type, resource_id))
    return what


def _who(entry: AuditEntry, nir_system: str) -> dict[str, Any]:
    role, _, identifier = entry.actor.partition(":")
    if role == "professional":
        who: dict[str, Any] = {"type": "Practitioner", "identifier": {"system": RPPS_SYSTEM, "value": identifier}}
    elif role == "patient":  # the patient or a parent, identified in the same INS space as the patient
        who = {"type": "Patient" if identifier == entry.patient_nir else "RelatedPerson",
               "identifier": {"system": nir_system, "value": identifier}}  # fmt: skip
    else:
        who = {"identifier": {"system": PARCOURS_ACTOR_SYSTEM, "value": entry.actor}}
    if entry.actor_name:
        who["display"] = entry.actor_name
    return who


def _purpose(entry: AuditEntry) -> dict[str, Any]:
    try:
        code, display = PURPOSE_OF_USE[Purpose(entry.purpose)]
    except ValueError:
        code, display = PURPOSE_OF_USE[Purpose.OPERATIONS]
    concept: dict[str, Any] = {"coding": [{"system": PURPOSE_SYSTEM, "code": code, "display": display}]}
    if entry.reason:
        concept["text"] = entry.reason
    return concept


def _outcome_text(entry: AuditEntry) -> str:
    verdict = "autorisé" if entry.outcome is Outcome.ALLOWED else "refusé"
    try:
        explanation = Decision(entry.outcome is Outcome.ALLOWED, Basis(entry.basis), Purpose(entry.purpose)).explanation
    except ValueError:
        explanation = entry.basis
    text = f"{verdict} : {explanation}"
    return f"{text} — motif : {entry.reason}" if entry.reason else text


class NamedPatient(NamedTuple):
    """A patient an entry names by NIR, as the store knows them."""

    id: str  # the FHIR Patient id
    nir_system: str | None  # the INS OID when it is not the production one (test and demo patients)


def audit_event(entry: AuditEntry, patients: Mapping[str, NamedPatient] | None = None) -> dict[str, Any]:
    """The FHIR ``AuditEvent`` of one audit entry, validated with ``fhir.resources.R4B``. ``patients``: the
    patients the entries name, by NIR: the patient entity then references ``Patient/<id>`` beside the NIR (a client
    follows it), and the NIR carries its patient's INS OID. A NIR the store does not know is named by the NIR alone,
    in the production INS space."""
    patient = (patients or {}).get(entry.patient_nir or "")
    nir_system = patient.nir_system if patient is not None and patient.nir_system else INS_NIR_SYSTEM
    action, interaction = _interaction(entry.operation, entry.action)
    instant = entry.recorded_at.isoformat()
    entities: list[dict[str, Any]] = []
    if entry.patient_nir:
        what: dict[str, Any] = {"type": "Patient", "identifier": {"system": nir_system, "value": entry.patient_nir}}
        if patient is not None:
            what["reference"] = f"Patient/{patient.id}"
        entities.append(
            {
                "what": what,
                "type": {"system": OBJECT_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    if entry.resource_type:
        entities.append(
            {
                "what": _what(entry),
                "type": {"system": OBJECT_TYPE, "code": "2", "display": "System Object"},
                "description": entry.operation,
            }
        )
    for reference in entry.entity_ids:  # each resource a search or an export returned
        resource_type, _, returned_id = reference.partition("/")
        entities.append(
            {
                "what": {**_named_or_referenced(resource_type, returned_id), "type": resource_type},
                "type": {"system": OBJECT_TYPE, "code": "2", "display": "System Object"},
                "description": "ressource renvoyée",
            }
        )
    data: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(entry.sequence),
        "extension": [
            {
                "url": CHAIN_EXTENSION,
                "extension": [
                    {"url": "sequence", "valueInteger": entry.sequence},
                    {"url": "hash", "valueString": entry.entry_hash},
                    {"url": "previousHash", "valueString": entry.previous_hash},
                ],
            }
        ],
        "type": {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"},
        "subtype": [{"system": RESTFUL_INTERACTION, "code": interaction}],
        "action": action,
        "period": {"start": instant, "end": instant},
        "recorded": instant,
        "outcome": "0" if entry.outcome is Outcome.ALLOWED else "4",
        "outcomeDesc": _outcome_text(entry),
        "purposeOfEvent": [_purpose(entry)],
        "agent": [{"who": _who(entry, nir_system), "requestor": True, "purposeOfUse": [_purpose(entry)]}],
        "source": {
            "observer": {"type": "Device", "display": "parcours"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": entities,
    }
    resource = AuditEvent.model_validate(data)
    result: dict[str, Any] = json.loads(resource.model_dump_json(exclude_none=True, by_alias=True))
    return result
