"""The facts of the access decision, read from the store for one patient and one caller.

For a professional caller the sets only ever hold the caller's own RPPS (or nothing): the decision only asks whether
the caller belongs to them, and each question is one indexed lookup.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from parcours.record.access import PatientFacts
from parcours.record.identity import Principal, Role
from parcours.rules.params import default_parameters
from parcours.store.models import Claim, GpDeclaration, Patient, Professional, Referral, Teleexpertise
from parcours.store.record import (
    EmergencyAccess,
    LegalRepresentative,
    NonOpposition,
    RecordBlock,
    RecordOpposition,
)

MAJORITY_AGE = "record.majority_age"


def age_on(birth_date: dt.date, on: dt.date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def is_minor(patient: Patient, on: dt.date) -> bool:
    majority: int = default_parameters().at(on)[MAJORITY_AGE]
    return age_on(patient.birth_date, on) < majority


def current_gp_rpps(session: Session, patient_id: str, on: dt.date) -> str | None:
    """The RPPS of the médecin traitant in force on ``on`` (end dates are exclusive, as in the declarations)."""
    return session.scalar(
        select(Professional.rpps)
        .join(GpDeclaration, GpDeclaration.professional_id == Professional.id)
        .where(
            GpDeclaration.patient_id == patient_id,
            GpDeclaration.start <= on,
            or_(GpDeclaration.end.is_(None), GpDeclaration.end > on),
        )
        .order_by(GpDeclaration.start.desc())
        .limit(1)
    )


def representatives(session: Session, patient_id: str) -> frozenset[str]:
    """The legal representatives on record and not lifted: the only source of a parent's rights (a NIR written on a
    declaration is no proof of parenthood, and could never be lifted)."""
    recorded = session.scalars(
        select(LegalRepresentative.representative_nir).where(
            LegalRepresentative.patient_id == patient_id, LegalRepresentative.lifted_at.is_(None)
        )
    )
    return frozenset(recorded)


def _mine(session: Session, rpps: str, condition: object) -> frozenset[str]:
    return frozenset({rpps}) if session.scalar(select(exists().where(condition))) else frozenset()  # type: ignore[arg-type]


def load_facts(session: Session, patient: Patient, principal: Principal, now: dt.datetime) -> PatientFacts:
    today = now.date()
    opposes = bool(
        session.scalar(
            select(
                exists().where(
                    RecordOpposition.patient_id == patient.id,
                    RecordOpposition.scope == "emergency_access",
                    RecordOpposition.lifted_at.is_(None),
                )
            )
        )
    )
    facts = PatientFacts(
        nir=patient.nir,
        minor=is_minor(patient, today),
        representatives=representatives(session, patient.id) if principal.role is Role.PATIENT else frozenset(),
        opposes_emergency_access=opposes,
    )
    rpps = principal.rpps
    if rpps is None:
        return facts
    professional_id = session.scalar(select(Professional.id).where(Professional.rpps == rpps))
    gp = current_gp_rpps(session, patient.id, today)
    emergency_reason = session.scalar(
        select(EmergencyAccess.reason)
        .where(
            EmergencyAccess.patient_id == patient.id,
            EmergencyAccess.professional_rpps == rpps,
            EmergencyAccess.opened_at <= now,
            EmergencyAccess.expires_at > now,
        )
        .order_by(EmergencyAccess.expires_at.desc())
        .limit(1)
    )
    in_team: dict[str, frozenset[str]] = {
        "referred_to": frozenset(),
        "teleexpertise_experts": frozenset(),
        "teleexpertise_requesters": frozenset(),
        "claim_billers": frozenset(),
    }
    if professional_id is not None:
        in_team = {
            "referred_to": _mine(session, rpps, (Referral.patient_id == patient.id)
                                 & (Referral.target_id == professional_id) & (Referral.status != "cancelled")),
            "teleexpertise_experts": _mine(session, rpps, (Teleexpertise.patient_id == patient.id)
                                           & (Teleexpertise.expert_id == professional_id)
                                           & (Teleexpertise.status != "cancelled")),
            "teleexpertise_requesters": _mine(session, rpps, (Teleexpertise.patient_id == patient.id)
                                              & (Teleexpertise.requester_id == professional_id)
                                              & (Teleexpertise.status != "cancelled")),
            "claim_billers": _mine(session, rpps, (Claim.patient_id == patient.id)
                                   & (Claim.professional_id == professional_id) & (Claim.status != "cancelled")),
        }  # fmt: skip
    return PatientFacts(
        nir=facts.nir,
        minor=facts.minor,
        representatives=facts.representatives,
        opposes_emergency_access=opposes,
        gp=gp,
        non_oppositions=_mine(
            session,
            rpps,
            (NonOpposition.patient_id == patient.id)
            & (NonOpposition.professional_rpps == rpps)
            & NonOpposition.lifted_at.is_(None),
        ),
        blocked=_mine(
            session,
            rpps,
            (RecordBlock.patient_id == patient.id)
            & (RecordBlock.professional_rpps == rpps)
            & RecordBlock.lifted_at.is_(None),
        ),
        emergency_accesses={rpps: emergency_reason} if emergency_reason else {},
        **in_team,
    )
