"""Entries of the shared record as FHIR R4 resources: checked, signed by their author, dated.

The record holds documents (``DocumentReference``: reports, prescriptions, results, imaging reports) and the medical
profile (``AllergyIntolerance``, ``MedicationStatement``, ``Condition``, ``Immunization``, ``Observation``). Each is
validated with the R4-family models of ``fhir.resources`` (``fhir.resources.R4B``), plus what those models leave
out: the required status codes, the R4 invariants (``record.invariants``: ait-1, con-3, obs-6…), and the two things
the record insists on — **who wrote it and when**. The author is always the authenticated caller: parcours fills the
author element from the token, and refuses a payload that names somebody else; the date is the caller's or, when
absent, the time of recording. Identifiers follow FR Core: INS-NIR for the patient, RPPS for practitioners.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.domainresource import DomainResource
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.medicationstatement import MedicationStatement
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from parcours.errors import FieldError, field_errors
from parcours.record.identity import Principal, Role
from parcours.record.invariants import violations

INS_NIR_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
INS_NIR_TEST_SYSTEM = "urn:oid:1.2.250.1.213.1.4.10"
INS_NIR_DEMO_SYSTEM = "urn:oid:1.2.250.1.213.1.4.11"
NIR_SYSTEMS = frozenset({INS_NIR_SYSTEM, INS_NIR_TEST_SYSTEM, INS_NIR_DEMO_SYSTEM})
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
ATC_SYSTEM = "http://www.whocc.no/atc"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"


class EntryError(ValueError):
    """The payload is not an acceptable record entry; ``errors`` name the fields (HTTP 422)."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class EntryKind:
    resource_type: str
    model: type[DomainResource]
    section: str  # "document" or "profile"
    label: str  # French
    subject_field: str
    date_field: str
    author_field: str
    author_shape: str  # "reference", "references" or "performers" (Immunization.performer[].actor)
    statuses: frozenset[str] | None = None


ENTRY_KINDS: Mapping[str, EntryKind] = {
    kind.resource_type: kind
    for kind in (
        EntryKind("DocumentReference", DocumentReference, "document", "document", "subject", "date", "author",
                  "references", frozenset({"current", "superseded", "entered-in-error"})),
        EntryKind("AllergyIntolerance", AllergyIntolerance, "profile", "allergie", "patient", "recordedDate",
                  "recorder", "reference"),
        EntryKind("MedicationStatement", MedicationStatement, "profile", "traitement", "subject", "dateAsserted",
                  "informationSource", "reference", frozenset({"active", "completed", "entered-in-error", "intended",
                                                               "stopped", "on-hold", "unknown", "not-taken"})),
        EntryKind("Condition", Condition, "profile", "antécédent", "subject", "recordedDate", "recorder", "reference"),
        EntryKind("Immunization", Immunization, "profile", "vaccination", "patient", "recorded", "performer",
                  "performers", frozenset({"completed", "entered-in-error", "not-done"})),
        EntryKind("Observation", Observation, "profile", "résultat", "subject", "issued", "performer", "references",
                  frozenset({"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                             "entered-in-error", "unknown"})),
    )
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PatientRef:
    nir: str
    system: str = INS_NIR_SYSTEM
    display: str | None = None

    def reference(self) -> dict[str, Any]:
        ref: dict[str, Any] = {"type": "Patient", "identifier": {"system": self.system, "value": self.nir}}
        if self.display:
            ref["display"] = self.display
        return ref


def author_reference(principal: Principal, patient: PatientRef) -> dict[str, Any]:
    """The FHIR reference naming the author: a Practitioner by RPPS, or the Patient (or their parent)."""
    if principal.role is Role.PROFESSIONAL:
        ref: dict[str, Any] = {
            "type": "Practitioner",
            "identifier": {"system": RPPS_SYSTEM, "value": principal.identifier},
        }
    elif principal.role is Role.PATIENT and principal.identifier == patient.nir:
        ref = patient.reference()
    elif principal.role is Role.PATIENT:
        ref = {"type": "RelatedPerson", "identifier": {"system": patient.system, "value": principal.identifier}}
    else:
        raise EntryError([FieldError("auteur", "seuls le patient, ses représentants et les professionnels écrivent")])
    if principal.display_name:
        ref["display"] = principal.display_name
    return ref


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _designates(reference: Any, identifier: str) -> bool:
    if not isinstance(reference, dict):
        return False
    ident = reference.get("identifier")
    return isinstance(ident, dict) and ident.get("value") == identifier


def _set_subject(data: dict[str, Any], kind: EntryKind, patient: PatientRef, errors: list[FieldError]) -> None:
    given = data.get(kind.subject_field)
    if given is not None:
        ident = given.get("identifier") if isinstance(given, dict) else None
        if not (isinstance(ident, dict) and ident.get("system") in NIR_SYSTEMS and ident.get("value") == patient.nir):
            errors.append(
                FieldError(kind.subject_field, "le sujet doit être le patient du dossier, désigné par son INS (NIR)")
            )
            return
    data[kind.subject_field] = patient.reference()


def _set_author(
    data: dict[str, Any], kind: EntryKind, author: dict[str, Any], identifier: str, errors: list[FieldError]
) -> None:
    field = kind.author_field
    given = data.get(field)
    message = "l'auteur est l'utilisateur authentifié : ne pas désigner quelqu'un d'autre"
    if kind.author_shape == "reference":
        if given is not None and not _designates(given, identifier):
            errors.append(FieldError(field, message))
        data[field] = author
    elif kind.author_shape == "references":
        if given is not None and (not isinstance(given, list) or any(not _designates(g, identifier) for g in given)):
            errors.append(FieldError(field, message))
        data[field] = [author]
    else:  # Immunization.performer[].actor, with its function kept
        performers = given if isinstance(given, list) else []
        if given is not None and (
            not isinstance(given, list)
            or any(not _designates(p.get("actor"), identifier) for p in performers if isinstance(p, dict))
        ):
            errors.append(FieldError(field, message))
        function = next((p["function"] for p in performers if isinstance(p, dict) and "function" in p), None)
        data[field] = [{"actor": author, **({"function": function} if function else {})}]


def prepare_entry(
    payload: Any, *, entry_id: str, patient: PatientRef, author: Principal, now: dt.datetime, version: int = 1
) -> tuple[EntryKind, dict[str, Any]]:
    """Check ``payload`` and return it ready to store: id, meta, subject, author and date set. Raises EntryError."""
    if not isinstance(payload, dict):
        raise EntryError([FieldError("(racine)", "ressource FHIR (objet JSON) attendue")])
    kind = ENTRY_KINDS.get(str(payload.get("resourceType")))
    if kind is None:
        expected = ", ".join(ENTRY_KINDS)
        raise EntryError(
            [FieldError("resourceType", f"type de ressource non admis dans le dossier (attendu : {expected})")]
        )
    data = {key: value for key, value in payload.items() if key not in ("id", "meta")}
    errors: list[FieldError] = []
    _set_subject(data, kind, patient, errors)
    _set_author(data, kind, author_reference(author, patient), author.identifier, errors)
    if data.get(kind.date_field) is None:
        data[kind.date_field] = _instant(now)
    status = data.get("status")
    if kind.statuses is not None and status not in kind.statuses:
        errors.append(FieldError("status", f"statut non admis (attendu : {', '.join(sorted(kind.statuses))})"))
    if errors:
        raise EntryError(errors)
    data["id"] = entry_id
    data["meta"] = {"versionId": str(version), "lastUpdated": _instant(now)}
    try:
        resource = kind.model.model_validate(data)
    except ValidationError as exc:
        raise EntryError([_french(error) for error in field_errors(exc)]) from None
    stored: dict[str, Any] = json.loads(resource.model_dump_json(exclude_none=True, by_alias=True))
    broken = violations(stored)  # what R4 requires beyond the models' structure (ait-1, con-4, obs-6…)
    if broken:
        raise EntryError(broken)
    return kind, stored


def _french(error: FieldError) -> FieldError:
    """fhir.resources reports format errors in English; say them in French."""
    if "does not match spec regex" in error.message:
        return FieldError(error.field, "format FHIR invalide (date AAAA-MM-JJ, instant AAAA-MM-JJThh:mm:ssZ)")
    if error.message.startswith(("Input should be", "Extra inputs")):
        return FieldError(error.field, "valeur non conforme au modèle FHIR R4")
    return error


def entry_date(kind: EntryKind, resource: Mapping[str, Any]) -> dt.datetime:
    """The entry's date as an aware datetime (dates without time are midnight UTC)."""
    raw = str(resource[kind.date_field])
    if len(raw) == 4:
        raw += "-01-01"
    elif len(raw) == 7:
        raw += "-01"
    moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def author_identifier(kind: EntryKind, resource: Mapping[str, Any]) -> str | None:
    """The identifier (RPPS or NIR) of the entry's author."""
    value = resource.get(kind.author_field)
    if kind.author_shape == "references":
        value = value[0] if value else None
    elif kind.author_shape == "performers":
        value = value[0].get("actor") if value else None
    ident = value.get("identifier") if isinstance(value, dict) else None
    result = ident.get("value") if isinstance(ident, dict) else None
    return result if isinstance(result, str) else None


def _identifier_value(reference: Any, system: str | None = None) -> str | None:
    ident = reference.get("identifier") if isinstance(reference, dict) else None
    if not isinstance(ident, dict) or (system is not None and ident.get("system") != system):
        return None
    value = ident.get("value")
    return value if isinstance(value, str) and value else None


def prescriber_identifier(resource: Mapping[str, Any]) -> str | None:
    """The RPPS of whoever prescribed a treatment (``MedicationStatement``), which is not whoever recorded it: the
    ``requester`` of the ``MedicationRequest`` it is derived from (``derivedFrom`` to a contained resource, as an MT
    transcribing a specialist's prescription writes it), else the recording practitioner (``informationSource``
    with an RPPS: a doctor recording their own prescription). None when unknown — a patient noting a treatment
    without its prescription."""
    contained = {
        f"#{item.get('id')}": item
        for item in resource.get("contained") or []
        if isinstance(item, dict) and item.get("resourceType") == "MedicationRequest"
    }
    for source in resource.get("derivedFrom") or []:
        request = contained.get(str(source.get("reference"))) if isinstance(source, dict) else None
        if request is not None and (requester := _identifier_value(request.get("requester"))) is not None:
            return requester
    return _identifier_value(resource.get("informationSource"), RPPS_SYSTEM)


def with_security_label(resource: Mapping[str, Any], masked: bool) -> dict[str, Any]:
    """The stored resource as served: a masked document carries the ``R`` (restricted) confidentiality label."""
    served = dict(resource)
    if masked:
        meta = dict(served.get("meta") or {})
        meta["security"] = [{"system": CONFIDENTIALITY_SYSTEM, "code": "R", "display": "restricted"}]
        served["meta"] = meta
    return served


def _text_of(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and isinstance(coding.get("display"), str):
            return str(coding["display"])
        if isinstance(coding, dict) and isinstance(coding.get("code"), str):
            return str(coding["code"])
    return None


_TITLE_FIELDS = {
    "DocumentReference": "type",
    "AllergyIntolerance": "code",
    "MedicationStatement": "medicationCodeableConcept",
    "Condition": "code",
    "Immunization": "vaccineCode",
    "Observation": "code",
}


def entry_title(resource_type: str, resource: Mapping[str, Any]) -> str:
    """A short French title for lists: the coded concept's text, else the kind of entry."""
    kind = ENTRY_KINDS[resource_type]
    if resource_type == "DocumentReference" and isinstance(resource.get("description"), str):
        return str(resource["description"])
    return _text_of(resource.get(_TITLE_FIELDS[resource_type])) or kind.label
