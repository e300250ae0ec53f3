"""Authorisation of the coordination API: the same access decision as the record, applied to patients'
administrative files, coordination items (declarations, referrals, téléexpertises) and claims.

A patient sees only their own data (and their minor children's); a professional sees only the patients they treat
and acts only in their own name (the RPPS in a request must be the caller's); insurer agents see and adjudicate
claims; administrators manage the directory. Refusals are traced in the audit trail (``AccessDeniedError``);
allowed coordination accesses are not, the record's are — and so are the médecin traitant declarations, the
presence attestations and every read of the clinical text of a coordination item (``ClinicalTexts``).

Creating a claim or a coordination item in one's own name needs a care relation made with the patient (médecin
traitant in force, referral, téléexpertise, earlier claim) or the patient's presence attestation (the carte Vitale
moment, ``PresenceAttestations``); declaring a médecin traitant always needs the attestation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, Date, Select, String, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from parcours.api.fhir.mappings import REFERRAL_PREFIX, TELEEXPERTISE_PREFIX
from parcours.api.schemas import ReferralView, TeleexpertiseView
from parcours.api.security import AttestationError, PresenceAttestation, PresenceAttestations
from parcours.care import declarations
from parcours.care.common import get_patient, today
from parcours.record.access import Action, Decision, Resource, ResourceKind
from parcours.record.facts import locked_patient_and_facts, representatives
from parcours.record.guard import Caller, authorize, draft_for, refuse_unknown_patient, trace
from parcours.record.identity import Principal, Role
from parcours.record.service import Disclosure, TextItem, clinical_texts
from parcours.store.models import Claim, GpDeclaration, Patient, Professional, Referral, Teleexpertise
from parcours.store.record import LegalRepresentative, NonOpposition

Row = TypeVar("Row")


def check(
    session: Session,
    principal: Principal,
    patient: Patient | None,
    resource: Resource,
    action: Action,
    operation: str,
    *,
    resource_type: str | None = None,
    resource_id: str | None = None,
    trace: bool = False,
    detail: str | None = None,
) -> Decision:
    caller = Caller.of(session, principal)
    return authorize(caller, patient, resource, action, operation, resource_type=resource_type,
                     resource_id=resource_id, trace=trace, detail=detail)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Presence:
    """What the attestation presented with a request proves (``attestation`` None: nothing, and ``why`` says why)."""

    attestation: PresenceAttestation | None
    why: str | None = None

    @property
    def proven(self) -> bool:
        return self.attestation is not None


_PATIENT_FOR_UPDATE = select(Patient).where(Patient.id == bindparam("patient_id", type_=String())).with_for_update()


def known_patient(session: Session, principal: Principal, patient_id: str, resource: Resource, action: Action,
                  operation: str, *, lock: bool = False) -> Patient:  # fmt: skip
    """The patient; for an unknown one, the refusal an unrelated caller gets for an existing patient (a 404 only
    for those who may see any patient). ``lock``: the row read ``FOR UPDATE`` (the command goes on to write what
    the patient's row serialises, a claim), so the command need not read it a second time."""
    if lock:
        patient = session.scalars(_PATIENT_FOR_UPDATE, {"patient_id": patient_id}).one_or_none()
    else:
        patient = session.get(Patient, patient_id)
    if patient is None:
        refuse_unknown_patient(Caller.of(session, principal), resource, action, operation)
        return get_patient(session, patient_id)  # raises the 404
    return patient


def presence(session: Session, attestations: PresenceAttestations, token: str | None, patient: Patient,
             rpps: str | None) -> Presence:  # fmt: skip
    """What the attestation proves now: a genuine one whose signer is still the patient or one of their legal
    representatives (a parent lifted after signing proves nothing any more)."""
    if token is None:
        return Presence(None, "aucune attestation de présence fournie")
    if rpps is None:
        return Presence(None, "attestation sans professionnel désigné")
    try:
        attestation = attestations.verify(token, patient_nir=patient.nir, professional_rpps=rpps)
    except AttestationError as exc:
        return Presence(None, str(exc))
    if attestation.signer_nir != patient.nir and attestation.signer_nir not in representatives(session, patient.id):
        return Presence(None, "le signataire de l'attestation n'est plus représentant légal du patient")
    return Presence(attestation)


def creating(
    session: Session,
    principal: Principal,
    patient_id: str,
    kind: ResourceKind,
    acting: str | None,
    operation: str,
    *,
    attestations: PresenceAttestations,
    attestation: str | None,
    resource_type: str,
    participants: Iterable[str | None] = (),
    trace: bool = False,
    lock: bool = False,
) -> tuple[Patient, Presence]:
    """A new claim, coordination item or médecin traitant declaration in the name of ``acting``: the caller must be
    that professional, in a care relation with the patient or holding the patient's presence attestation (always,
    for a declaration). A refusal names ``vitale_attestation`` and is traced with why the attestation failed.
    ``lock``: the patient's row is read ``FOR UPDATE`` (see ``known_patient``); for a professional caller, in one
    statement with the decision's facts."""
    caller = Caller.of(session, principal)
    locked = locked_patient_and_facts(session, patient_id, principal, caller.now) if lock and principal.rpps else None
    if locked is None:  # not locked with its facts (or no such patient: refused or 404 below, as without the lock)
        patient = known_patient(session, principal, patient_id, Resource(kind, acting_professional=acting,
                                creating=True), Action.WRITE, operation, lock=lock)  # fmt: skip
        facts = None
    else:
        patient, facts = locked
    proof = presence(session, attestations, attestation, patient, acting)
    resource = Resource(
        kind,
        acting_professional=acting,
        participants=frozenset(p for p in participants if p),
        creating=True,
        presence_proven=proof.proven,
    )
    authorize(caller, patient, resource, Action.WRITE, operation, facts=facts, resource_type=resource_type,
              trace=trace, detail=proof.why if not proof.proven else "attestation de présence du patient vérifiée")  # fmt: skip
    return patient, proof


def patient_file(
    session: Session, principal: Principal, patient_id: str, operation: str, action: Action = Action.READ
) -> Patient:
    patient = known_patient(session, principal, patient_id, Resource(ResourceKind.PATIENT_FILE), action, operation)
    check(session, principal, patient, Resource(ResourceKind.PATIENT_FILE), action, operation,
          resource_type="Patient", resource_id=patient.id)  # fmt: skip
    return patient


def coordination(
    session: Session,
    principal: Principal,
    patient_id: str,
    operation: str,
    *,
    action: Action = Action.READ,
    acting: str | None = None,
    participants: Iterable[str | None] = (),
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> Patient:
    """Coordination data of a patient: read by the patient and the care team (and the professionals named on the
    item); written only by the professional acting in their own name (``acting``)."""
    resource = Resource(
        ResourceKind.CARE_COORDINATION,
        acting_professional=acting,
        participants=frozenset(p for p in participants if p),
    )
    patient = known_patient(session, principal, patient_id, resource, action, operation)
    check(session, principal, patient, resource, action, operation, resource_type=resource_type,
          resource_id=resource_id)  # fmt: skip
    return patient


def claim(
    session: Session,
    principal: Principal,
    patient_id: str,
    biller_rpps: str | None,
    operation: str,
    *,
    action: Action = Action.READ,
    resource_id: str | None = None,
    creating: bool = False,
) -> Patient:
    """Claims: read by the patient, the biller and insurer agents; submitted by the biller (``creating``);
    cancelled or corrected by the biller or an insurer agent."""
    resource = Resource(
        ResourceKind.CLAIM,
        acting_professional=biller_rpps,
        participants=frozenset({biller_rpps}) if biller_rpps else frozenset(),
        creating=creating,
    )
    patient = known_patient(session, principal, patient_id, resource, action, operation)
    check(session, principal, patient, resource, action, operation, resource_type="Claim", resource_id=resource_id)
    return patient


def worklist(session: Session, principal: Principal, professional: Professional, operation: str,
             action: Action = Action.READ) -> Decision:  # fmt: skip
    """A professional's own lists (their patients as MT, referrals and téléexpertises addressed to them)."""
    return check(session, principal, None, Resource(ResourceKind.WORKLIST, acting_professional=professional.rpps),
                 action, operation, resource_type="Practitioner", resource_id=professional.id)  # fmt: skip


def trace_for_patients(session: Session, principal: Principal, decision: Decision, patients: Iterable[Patient],
                       operation: str, *, resource_type: str, detail: str | None = None) -> None:  # fmt: skip
    """One entry in each patient's access history for a write allowed once for many patients (a doctor who stops
    being médecin traitant ends every declaration at once; each patient must see it in their history)."""
    caller = Caller.of(session, principal)
    for patient in patients:
        trace(caller, draft_for(caller, decision, Action.WRITE, operation, patient_nir=patient.nir,
                                resource_type=resource_type, detail=detail))  # fmt: skip


def directory_write(session: Session, principal: Principal, operation: str) -> None:
    check(session, principal, None, Resource(ResourceKind.DIRECTORY), Action.WRITE, operation,
          resource_type="Practitioner")  # fmt: skip


def register_patient(session: Session, principal: Principal, operation: str) -> None:
    check(session, principal, None, Resource(ResourceKind.PATIENT_FILE), Action.WRITE, operation,
          resource_type="Patient")  # fmt: skip


def visible_patients(statement: Select[Row], principal: Principal) -> Select[Row]:
    """Restrict a query of patients to those the caller may see: all for agents and administrators, the patient
    and the minors they represent for a patient, the patients they treat for a professional."""
    if principal.role in (Role.ADMINISTRATOR, Role.INSURER_AGENT):
        return statement
    if principal.role is Role.PATIENT:
        return statement.where(_visible_to_patient()).params(viewer=principal.identifier)
    return statement.where(_visible_to_professional()).params(viewer=principal.identifier, viewer_today=today())


# the restrictions built once with bound parameters (``viewer``, ``viewer_today``), bound for each caller by
# ``visible_patients``: building the five correlated subqueries at each request was most of a FHIR search's
# statement cost (``params`` only copies the tree)


@functools.cache
def _visible_to_patient() -> ColumnElement[bool]:
    viewer = bindparam("viewer", type_=String())
    represented = exists().where(
        LegalRepresentative.patient_id == Patient.id,
        LegalRepresentative.representative_nir == viewer,
        LegalRepresentative.lifted_at.is_(None),
    )
    return or_(Patient.nir == viewer, represented)


@functools.cache
def _visible_to_professional() -> ColumnElement[bool]:
    viewer = bindparam("viewer", type_=String())
    on = bindparam("viewer_today", type_=Date())
    me = select(Professional.id).where(Professional.rpps == viewer).scalar_subquery()
    # correlated to Patient only: a search that joins one of these tables itself must not capture the subquery
    return or_(
        exists().where(GpDeclaration.patient_id == Patient.id, GpDeclaration.professional_id == me,
                       declarations.in_force(on)).correlate(Patient),
        exists().where(Referral.patient_id == Patient.id, Referral.target_id == me,
                       Referral.status != "cancelled").correlate(Patient),
        exists().where(Teleexpertise.patient_id == Patient.id,
                       or_(Teleexpertise.expert_id == me, Teleexpertise.requester_id == me),
                       Teleexpertise.status != "cancelled").correlate(Patient),
        exists().where(Claim.patient_id == Patient.id, Claim.professional_id == me,
                       Claim.status != "cancelled").correlate(Patient),
        exists().where(NonOpposition.patient_id == Patient.id, NonOpposition.professional_rpps == viewer,
                       NonOpposition.lifted_at.is_(None)).correlate(Patient),
    )  # fmt: skip


def own_patient_ids(session: Session, principal: Principal) -> list[str] | None:
    """For a patient: their own patient id and those of the minors they represent. None for other roles."""
    if principal.role is not Role.PATIENT:
        return None
    return list(session.scalars(visible_patients(select(Patient.id), principal)))


# --- the clinical text of referrals and téléexpertises: record data, served through the access decision ----------


def _referral_item(row: Referral) -> TextItem:
    named = frozenset(p.rpps for p in (row.referrer, row.target) if p is not None)
    reference = f"ServiceRequest/{REFERRAL_PREFIX}{row.id}"
    return TextItem(row.patient, "ServiceRequest", row.id, named, f"referral:{row.id}", reference)


def _teleexpertise_item(row: Teleexpertise) -> TextItem:
    named = frozenset({row.requester.rpps, row.expert.rpps})
    reference = f"ServiceRequest/{TELEEXPERTISE_PREFIX}{row.id}"
    return TextItem(row.patient, "ServiceRequest", row.id, named, f"teleexpertise:{row.id}", reference)


def referral_disclosures(session: Session, principal: Principal, rows: Sequence[Referral],
                         operation: str) -> dict[str, Disclosure]:  # fmt: skip
    if not rows:
        return {}
    return clinical_texts(Caller.of(session, principal), [_referral_item(r) for r in rows], operation)


def teleexpertise_disclosures(session: Session, principal: Principal, rows: Sequence[Teleexpertise],
                              operation: str) -> dict[str, Disclosure]:  # fmt: skip
    if not rows:
        return {}
    return clinical_texts(Caller.of(session, principal), [_teleexpertise_item(r) for r in rows], operation)


def referral_views(
    session: Session, principal: Principal, rows: Iterable[Referral], operation: str
) -> list[ReferralView]:
    """Referrals as the caller may see them: the reason and the report only where the record's rules allow
    (masks, blocks, a minor's secrets), each read traced."""
    listed = list(rows)
    shown = referral_disclosures(session, principal, listed, operation)
    return [ReferralView.of(r).disclosed(shown[r.id]) for r in listed]


def referral_view(session: Session, principal: Principal, row: Referral, operation: str) -> ReferralView:
    return referral_views(session, principal, [row], operation)[0]


def teleexpertise_views(
    session: Session, principal: Principal, rows: Iterable[Teleexpertise], operation: str
) -> list[TeleexpertiseView]:
    """Téléexpertises as the caller may see them: the question and the answer only where the record's rules
    allow, each read traced."""
    listed = list(rows)
    shown = teleexpertise_disclosures(session, principal, listed, operation)
    return [TeleexpertiseView.of(t).disclosed(shown[t.id]) for t in listed]


def teleexpertise_view(session: Session, principal: Principal, row: Teleexpertise, operation: str) -> TeleexpertiseView:
    return teleexpertise_views(session, principal, [row], operation)[0]


def disclosures(session: Session, principal: Principal, rows: Sequence[Referral | Teleexpertise],
                operation: str) -> dict[str, Disclosure]:  # fmt: skip
    """For the FHIR views, which list referrals and téléexpertises together."""
    items = [_referral_item(r) if isinstance(r, Referral) else _teleexpertise_item(r) for r in rows]
    return clinical_texts(Caller.of(session, principal), items, operation) if items else {}
