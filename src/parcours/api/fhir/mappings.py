"""Rows of the coordination store as HL7 FHIR R4 resources (``fhir.resources.R4B`` models, validated on build).

Profiles followed (docs/fhir.md): FR Core (Interop'Santé) for Patient, Practitioner and PractitionerRole — INS-NIR
identifier with its OID (the test and demo OIDs for synthetic people), RPPS and IDNPS identifiers; base R4 for
ServiceRequest, Task, Claim, ClaimResponse and ExplanationOfBenefit, with a parcours code system for the French
amounts (participation forfaitaire, franchise, majoration hors parcours) that the HL7 adjudication codes lack.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir.resources.R4B.claim import Claim as FhirClaim
from fhir.resources.R4B.claimresponse import ClaimResponse
from fhir.resources.R4B.explanationofbenefit import ExplanationOfBenefit
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from parcours.care.teleexpertise import status_of
from parcours.record.entries import INS_NIR_SYSTEM, RPPS_SYSTEM
from parcours.record.service import Disclosure
from parcours.rules.money import format_eur, to_cents
from parcours.store.models import Claim, Patient, Professional, Referral, Teleexpertise

FR_CORE = "https://hl7.fr/ig/fhir/core/StructureDefinition"
FR_CORE_IDENTIFIER_TYPE = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"
IDNPS_SYSTEM = "urn:oid:1.2.250.1.71.4.2.1"
NGAP_SYSTEM = "urn:parcours:fhir:CodeSystem:acte"  # NGAP/CCAM codes as billed in parcours (docs/rules.md)
PARCOURS_CS = "urn:parcours:fhir:CodeSystem"
ADJUDICATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/adjudication"
REJECTION_SYSTEM = f"{PARCOURS_CS}:rejection"  # why a line is not paid: the rules engine's refusal codes
EXPLANATION_STEP_EXTENSION = "urn:parcours:fhir:StructureDefinition:explanation-step"  # rule id, amount, line
CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"
SNOMED = "http://snomed.info/sct"
REFERRAL_CATEGORY = {"system": SNOMED, "code": "3457005", "display": "Patient referral"}
TELEEXPERTISE_CATEGORY = {"system": f"{PARCOURS_CS}:coordination", "code": "teleexpertise", "display": "Téléexpertise"}
AMO_DISPLAY = "Assurance Maladie obligatoire"

REFERRAL_PREFIX = "referral-"
TELEEXPERTISE_PREFIX = "teleexpertise-"


def _reference(kind: str, identifier: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"{kind}/{identifier}"}
    if display:
        ref["display"] = display
    return ref


def _name(row: Patient | Professional) -> str:
    return f"{row.given_name} {row.family_name}"


def _money(cents: int) -> dict[str, Any]:
    return {"value": cents / 100, "currency": "EUR"}


def practitioner_reference(professional: Professional) -> dict[str, Any]:
    return _reference("Practitioner", professional.id, _name(professional))


def patient_reference(patient: Patient) -> dict[str, Any]:
    return _reference("Patient", patient.id, _name(patient))


def patient_resource(patient: Patient, gp: Professional | None) -> FhirPatient:
    data: dict[str, Any] = {
        "resourceType": "Patient",
        "id": patient.id,
        "meta": {"profile": [f"{FR_CORE}/fr-core-patient"]},
        "identifier": [
            {
                "use": "official",
                "type": {"coding": [{"system": FR_CORE_IDENTIFIER_TYPE, "code": "INS-NIR"}]},
                "system": patient.nir_system or INS_NIR_SYSTEM,
                "value": patient.nir,
            }
        ],
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "gender": patient.sex,
        "birthDate": patient.birth_date.isoformat(),
    }
    if gp is not None:
        data["generalPractitioner"] = [practitioner_reference(gp)]
    return FhirPatient.model_validate(data)


def practitioner_resource(professional: Professional) -> Practitioner:
    return Practitioner.model_validate(
        {
            "resourceType": "Practitioner",
            "id": professional.id,
            "meta": {"profile": [f"{FR_CORE}/fr-core-practitioner"]},
            "identifier": [
                {
                    "use": "official",
                    "type": {"coding": [{"system": FR_CORE_IDENTIFIER_TYPE, "code": "IDNPS"}]},
                    "system": IDNPS_SYSTEM,
                    "value": f"8{professional.rpps}",
                },
                {
                    "use": "official",
                    "type": {"coding": [{"system": FR_CORE_IDENTIFIER_TYPE, "code": "RPPS"}]},
                    "system": RPPS_SYSTEM,
                    "value": professional.rpps,
                },
            ],
            "active": professional.active,
            "name": [{"family": professional.family_name, "given": [professional.given_name]}],
        }
    )


def practitioner_role_resource(professional: Professional) -> PractitionerRole:
    data: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "id": professional.id,
        "meta": {"profile": [f"{FR_CORE}/fr-core-practitioner-role"]},
        "active": professional.active,
        "practitioner": practitioner_reference(professional),
        "code": [{"coding": [{"system": f"{PARCOURS_CS}:profession", "code": professional.profession}]}],
        "extension": [
            {"url": f"{PARCOURS_CS}:secteur-conventionnel", "valueCode": professional.sector},
            {"url": f"{PARCOURS_CS}:optam", "valueBoolean": professional.optam},
        ],
    }
    if professional.specialty:
        data["specialty"] = [{"coding": [{"system": f"{PARCOURS_CS}:specialite", "code": professional.specialty}]}]
    if professional.installed_on:
        data["period"] = {"start": professional.installed_on.isoformat()}
    return PractitionerRole.model_validate(data)


_REFERRAL_REQUEST_STATUS = {
    "requested": "active", "accepted": "active", "seen": "active", "closed": "completed", "cancelled": "revoked",
}  # fmt: skip
_REFERRAL_TASK_STATUS = {
    "requested": "requested", "accepted": "accepted", "seen": "in-progress", "closed": "completed",
    "cancelled": "cancelled",
}  # fmt: skip


def _withheld(shown: Disclosure) -> list[dict[str, str]] | None:
    """The French note saying why a clinical text is left out (record data the caller may not read)."""
    return [{"text": shown.note}] if shown.note else None


def referral_request(referral: Referral, shown: Disclosure) -> ServiceRequest:
    data: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": REFERRAL_PREFIX + referral.id,
        "status": _REFERRAL_REQUEST_STATUS[referral.status],
        "intent": "order",
        "category": [{"coding": [REFERRAL_CATEGORY], "text": "Adressage"}],
        "priority": "urgent" if referral.urgency == "urgent" else "routine",
        "code": {"coding": [{"system": f"{PARCOURS_CS}:specialite", "code": referral.target_specialty}]},
        "subject": patient_reference(referral.patient),
        "authoredOn": referral.issued_on.isoformat(),
        "requester": practitioner_reference(referral.referrer),
        "reasonCode": [{"text": referral.reason}] if shown.request else None,
        "note": _withheld(shown),
        "occurrencePeriod": {"start": referral.issued_on.isoformat(), "end": referral.covers_until.isoformat()},
    }
    if referral.target is not None:
        data["performer"] = [practitioner_reference(referral.target)]
    return ServiceRequest.model_validate(data)


def referral_task(referral: Referral, shown: Disclosure) -> Task:
    data: dict[str, Any] = {
        "resourceType": "Task",
        "id": REFERRAL_PREFIX + referral.id,
        "basedOn": [_reference("ServiceRequest", REFERRAL_PREFIX + referral.id)],
        "status": _REFERRAL_TASK_STATUS[referral.status],
        "intent": "order",
        "priority": "urgent" if referral.urgency == "urgent" else "routine",
        "description": "Adressage : prise en charge et compte rendu au médecin traitant",
        "for": patient_reference(referral.patient),
        "authoredOn": referral.issued_on.isoformat(),
        "requester": practitioner_reference(referral.referrer),
        "restriction": {"period": {"end": referral.report_due_on.isoformat()}},
    }
    if referral.target is not None:
        data["owner"] = practitioner_reference(referral.target)
    data["note"] = _withheld(shown)
    if referral.report is not None and referral.reported_on is not None and shown.result:
        data["output"] = [
            {
                "type": {"text": "Compte rendu"},
                "valueString": referral.report,
            }
        ]
        data["lastModified"] = dt.datetime.combine(referral.reported_on, dt.time(), dt.UTC).isoformat()
    return Task.model_validate(data)


# an expired request (no answer in time) is over without being done: revoked request, failed task
_TE_REQUEST_STATUS = {"requested": "active", "answered": "completed", "cancelled": "revoked", "expired": "revoked"}
_TE_TASK_STATUS = {"requested": "requested", "answered": "completed", "cancelled": "cancelled", "expired": "failed"}


def teleexpertise_request(item: Teleexpertise, shown: Disclosure) -> ServiceRequest:
    return ServiceRequest.model_validate(
        {
            "resourceType": "ServiceRequest",
            "id": TELEEXPERTISE_PREFIX + item.id,
            "status": _TE_REQUEST_STATUS[status_of(item)],
            "intent": "order",
            "category": [{"coding": [TELEEXPERTISE_CATEGORY]}],
            "priority": "urgent" if item.priority == "urgent" else "routine",
            "code": {"coding": [{"system": NGAP_SYSTEM, "code": "TE2"}], "text": "Avis de téléexpertise"},
            "subject": patient_reference(item.patient),
            "authoredOn": item.requested_on.isoformat(),
            "requester": practitioner_reference(item.requester),
            "performer": [practitioner_reference(item.expert)],
            "reasonCode": [{"text": item.question}] if shown.request else None,
            "supportingInfo": [{"display": d.get("title", "document")} for d in item.documents if shown.request]
            or None,
            "note": [
                {"text": f"Consentement du patient recueilli le {item.consent_at:%d/%m/%Y}"},
                *(_withheld(shown) or []),
            ],
        }
    )


def teleexpertise_task(item: Teleexpertise, shown: Disclosure) -> Task:
    data: dict[str, Any] = {
        "resourceType": "Task",
        "id": TELEEXPERTISE_PREFIX + item.id,
        "basedOn": [_reference("ServiceRequest", TELEEXPERTISE_PREFIX + item.id)],
        "status": _TE_TASK_STATUS[status_of(item)],
        "intent": "order",
        "description": "Téléexpertise : réponse au requérant et au médecin traitant",
        "for": patient_reference(item.patient),
        "authoredOn": item.requested_on.isoformat(),
        "requester": practitioner_reference(item.requester),
        "owner": practitioner_reference(item.expert),
        "restriction": {"period": {"end": item.answer_due_on.isoformat()}},
    }
    data["note"] = _withheld(shown)
    if item.answer is not None and shown.result:
        data["output"] = [{"type": {"text": "Avis"}, "valueString": item.answer}]
    return Task.model_validate(data)


def _claim_status(claim: Claim) -> str:
    return "active" if claim.status in ("paid", "rejected") else "cancelled"


def _created(claim: Claim) -> str:
    moment = claim.created_at or dt.datetime.now(dt.UTC)
    if moment.tzinfo is None:  # SQLite gives back naive timestamps; the store writes UTC
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()


def _items(claim: Claim) -> list[dict[str, Any]]:
    return [
        {
            "sequence": line.position + 1,
            "productOrService": {"coding": [{"system": NGAP_SYSTEM, "code": line.code}]},
            "servicedDate": claim.care_date.isoformat(),
            "quantity": {"value": line.quantity},
            "net": _money(line.fee),
        }
        for line in claim.lines
    ]


def claim_resource(claim: Claim) -> FhirClaim:
    return FhirClaim.model_validate(
        {
            "resourceType": "Claim",
            "id": claim.id,
            "identifier": [{"system": f"{PARCOURS_CS}:idempotency-key", "value": claim.idempotency_key}],
            "status": _claim_status(claim),
            "type": {"coding": [{"system": CLAIM_TYPE_SYSTEM, "code": "professional"}]},
            "use": "claim",
            "patient": patient_reference(claim.patient),
            "created": _created(claim),
            "provider": practitioner_reference(claim.professional),
            "priority": {
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]
            },
            "insurance": [{"sequence": 1, "focal": True, "coverage": {"display": AMO_DISPLAY}}],
            "item": _items(claim),
            "total": _money(claim.billed),
        }
    )


def _adjudication(
    code: str, cents: int, *, parcours: bool = False, reason: dict[str, Any] | None = None
) -> dict[str, Any]:
    system = f"{PARCOURS_CS}:adjudication" if parcours else ADJUDICATION_SYSTEM
    item: dict[str, Any] = {"category": {"coding": [{"system": system, "code": code}]}, "amount": _money(cents)}
    if reason:
        item["reason"] = reason
    return item


def _steps(claim: Claim) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = claim.adjudication.get("explanation", [])
    return steps


def _rejection(claim: Claim, position: int) -> dict[str, Any] | None:
    """Why a line is not paid: the engine's refusal code and its French text (the explanation step)."""
    lines = claim.adjudication.get("lines", [])
    code = lines[position].get("reason") if position < len(lines) else None
    if code is None:
        return None
    text = next(
        (s["text"] for s in _steps(claim) if s.get("rule") == f"refusal.{code}" and s.get("line") == position), code
    )
    return {"coding": [{"system": REJECTION_SYSTEM, "code": code}], "text": text}


def _process_notes(claim: Claim) -> list[dict[str, Any]]:
    """The stored explanation, one note per step: its rule id and amount in the text and, for machines, in an
    extension (rule as a code, amount as Money, line as the item sequence)."""
    notes = []
    for number, step in enumerate(_steps(claim), start=1):
        detail: list[dict[str, Any]] = [{"url": "rule", "valueCode": step["rule"]}]
        text = f"[{step['rule']}] {step['text']}"
        if step.get("amount") is not None:
            cents = to_cents(step["amount"])
            detail.append({"url": "amount", "valueMoney": _money(cents)})
            text += f" ({format_eur(cents)})"
        if step.get("line") is not None:
            detail.append({"url": "line", "valuePositiveInt": step["line"] + 1})
        notes.append(
            {
                "number": number,
                "type": "display",
                "text": text,
                "extension": [{"url": EXPLANATION_STEP_EXTENSION, "extension": detail}],
            }
        )
    return notes


def _note_numbers(claim: Claim, position: int) -> list[int] | None:
    numbers = [n for n, step in enumerate(_steps(claim), start=1) if step.get("line") == position]
    return numbers or None


def _line_adjudications(line: Any, amc: int | None, rejection: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    items = [
        _adjudication("submitted", line.fee),
        _adjudication("eligible", line.base),
        {"category": {"coding": [{"system": ADJUDICATION_SYSTEM, "code": "eligpercent"}]}, "value": line.rate / 100},
        _adjudication("benefit", line.amo, reason=rejection if line.status == "rejected" else None),
        _adjudication("majoration-hors-parcours", line.majoration, parcours=True),
        _adjudication("participation-forfaitaire", line.participation, parcours=True),
        _adjudication("franchise", line.franchise, parcours=True),
    ]
    if amc is not None:
        items.append(_adjudication("amc", amc, parcours=True))
    items.append(_adjudication("patient", line.patient_share - (amc or 0), parcours=True))
    return items


def claim_response_resource(claim: Claim) -> ClaimResponse:
    return ClaimResponse.model_validate(
        {
            "resourceType": "ClaimResponse",
            **_decision_header(claim),
            "request": _reference("Claim", claim.id),
            "item": [
                {
                    "itemSequence": line.position + 1,
                    "noteNumber": _note_numbers(claim, line.position),
                    "adjudication": _line_adjudications(line, None, _rejection(claim, line.position)),
                }
                for line in claim.lines
            ],
            "total": _totals(claim),
        }
    )  # fmt: skip


def _decision_header(claim: Claim) -> dict[str, Any]:
    """What ClaimResponse and ExplanationOfBenefit say alike of the decision on a claim."""
    return {
        "id": claim.id,
        "status": _claim_status(claim),
        "type": {"coding": [{"system": CLAIM_TYPE_SYSTEM, "code": "professional"}]},
        "use": "claim",
        "patient": patient_reference(claim.patient),
        "created": _created(claim),
        "insurer": {"display": AMO_DISPLAY},
        "outcome": "complete",
        "disposition": _disposition(claim),
        "processNote": _process_notes(claim) or None,
    }


def _totals(claim: Claim) -> list[dict[str, Any]]:
    return [
        {"category": {"coding": [{"system": ADJUDICATION_SYSTEM, "code": code}]}, "amount": _money(cents)}
        for code, cents in (("submitted", claim.billed), ("benefit", claim.amo))
    ]


def _disposition(claim: Claim) -> str:
    pathway = claim.adjudication.get("pathway")
    inside = claim.adjudication.get("in_pathway")
    where = "dans le parcours" if inside else ("hors parcours" if inside is False else "parcours non concerné")
    return f"Indicateur de parcours {pathway or '—'} ({where}) ; statut : {claim.status}"


def explanation_of_benefit(claim: Claim, amc_by_line: dict[int, int] | None = None) -> ExplanationOfBenefit:
    amc_by_line = amc_by_line or {}
    return ExplanationOfBenefit.model_validate(
        {
            "resourceType": "ExplanationOfBenefit",
            **_decision_header(claim),
            "provider": practitioner_reference(claim.professional),
            "claim": _reference("Claim", claim.id),
            "claimResponse": _reference("ClaimResponse", claim.id),
            "insurance": [{"focal": True, "coverage": {"display": AMO_DISPLAY}}],
            "item": [
                {
                    **item,
                    "noteNumber": _note_numbers(claim, line.position),
                    "adjudication": _line_adjudications(
                        line, amc_by_line.get(line.position), _rejection(claim, line.position)
                    ),
                }
                for item, line in zip(_items(claim), claim.lines, strict=True)
            ],
            "total": _totals(claim),
            "payment": {"amount": _money(claim.amo)},
        }
    )  # fmt: skip
