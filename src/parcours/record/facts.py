"""The facts of the access decision, read from the store for one patient and one caller.

For a professional caller the sets only ever hold the caller's own RPPS (or nothing): the decision only asks whether
the caller belongs to them, and each question is one indexed lookup.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from sqlalchemy import Date, Exists, Select, String, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from parcours.record.access import PatientFacts
from parcours.record.identity import Principal, Role
from parcours.rules.params import default_parameters
from parcours.store.models import Claim, GpDeclaration, Patient, Professional, Referral, Teleexpertise, UtcDateTime
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


def _current_gp_query(patient_id: Any, on: Any) -> Select[str]:
    return (
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


def current_gp_rpps(session: Session, patient_id: str, on: dt.date) -> str | None:
    """The RPPS of the médecin traitant in force on ``on`` (end dates are exclusive, as in the declarations)."""
    return session.scalar(_current_gp_query(patient_id, on))


def representatives(session: Session, patient_id: str) -> frozenset[str]:
    """The legal representatives on record and not lifted: the only source of a parent's rights (a NIR written on a
    declaration is no proof of parenthood, and could never be lifted)."""
    recorded = session.scalars(
        select(LegalRepresentative.representative_nir).where(
            LegalRepresentative.patient_id == patient_id, LegalRepresentative.lifted_at.is_(None)
        )
    )
    return frozenset(recorded)


RELATIONS = ("referred_to", "teleexpertise_experts", "teleexpertise_requesters", "claim_billers", "non_oppositions",
             "blocked")  # fmt: skip


@functools.cache
def _professional_facts() -> Select[Any]:
    """The questions about a professional caller and a patient, as one statement built once (bound parameters: the
    values change, the SQL is SQLAlchemy's cache hit rather than an expression tree built at every request)."""
    patient_id, rpps = bindparam("patient_id", type_=String()), bindparam("rpps", type_=String())
    today, now = bindparam("today", type_=Date()), bindparam("now", type_=UtcDateTime())
    professional = select(Professional.id).where(Professional.rpps == rpps).scalar_subquery()
    relations = {
        "referred_to": exists().where(Referral.patient_id == patient_id, Referral.target_id == professional,
                                      Referral.status != "cancelled"),
        "teleexpertise_experts": exists().where(Teleexpertise.patient_id == patient_id,
                                                Teleexpertise.expert_id == professional,
                                                Teleexpertise.status != "cancelled"),
        "teleexpertise_requesters": exists().where(Teleexpertise.patient_id == patient_id,
                                                   Teleexpertise.requester_id == professional,
                                                   Teleexpertise.status != "cancelled"),
        "claim_billers": exists().where(Claim.patient_id == patient_id, Claim.professional_id == professional,
                                        Claim.status != "cancelled"),
        "non_oppositions": exists().where(NonOpposition.patient_id == patient_id,
                                          NonOpposition.professional_rpps == rpps, NonOpposition.lifted_at.is_(None)),
        "blocked": exists().where(RecordBlock.patient_id == patient_id, RecordBlock.professional_rpps == rpps,
                                  RecordBlock.lifted_at.is_(None)),
    }  # fmt: skip
    assert tuple(relations) == RELATIONS
    emergency_reason = (
        select(EmergencyAccess.reason)
        .where(
            EmergencyAccess.patient_id == patient_id,
            EmergencyAccess.professional_rpps == rpps,
            EmergencyAccess.opened_at <= now,
            EmergencyAccess.expires_at > now,
        )
        .order_by(EmergencyAccess.expires_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(
        _opposes(patient_id).label("opposes"),
        _current_gp_query(patient_id, today).scalar_subquery().label("gp"),
        emergency_reason.label("emergency_reason"),
        *(condition.label(name) for name, condition in relations.items()),
    )


def _opposes(patient_id: Any) -> Exists:
    return exists().where(
        RecordOpposition.patient_id == patient_id,
        RecordOpposition.scope == "emergency_access",
        RecordOpposition.lifted_at.is_(None),
    )


@functools.cache
def _locked_patient_with_facts() -> Select[Any]:
    """The patient's row read ``FOR UPDATE`` with the questions of ``_professional_facts`` as its other columns: one
    round trip where a claim took two. Only the patient's row is locked (``OF patients``); the questions are read in
    the statement's snapshot, taken before any wait for the lock, as they would have been read a moment earlier."""
    questions = _professional_facts()
    return (
        select(Patient, *questions.selected_columns)
        .where(Patient.id == bindparam("patient_id", type_=String()))
        .with_for_update(of=Patient)
    )


def locked_patient_and_facts(session: Session, patient_id: str, principal: Principal,
                             now: dt.datetime) -> tuple[Patient, PatientFacts] | None:  # fmt: skip
    """For a professional caller (``principal.rpps``): the patient read ``FOR UPDATE`` and the facts of the access
    decision (``load_facts``) in one statement; None for an unknown patient."""
    assert principal.rpps is not None
    row = session.execute(_locked_patient_with_facts(), {"patient_id": patient_id, "rpps": principal.rpps,
                                                         "today": now.date(), "now": now}).one_or_none()  # fmt: skip
    if row is None:
        return None
    patient = row[0]
    return patient, _professional_patient_facts(patient, principal.rpps, now.date(), row)


def _professional_patient_facts(patient: Patient, rpps: str, today: dt.date, row: Any) -> PatientFacts:
    mine = frozenset({rpps})
    return PatientFacts(
        nir=patient.nir,
        minor=is_minor(patient, today),
        opposes_emergency_access=bool(row.opposes),
        gp=row.gp,
        emergency_accesses={rpps: row.emergency_reason} if row.emergency_reason else {},
        **{name: mine if getattr(row, name) else frozenset() for name in RELATIONS},
    )


def load_facts(session: Session, patient: Patient, principal: Principal, now: dt.datetime) -> PatientFacts:
    """Every fact the decision needs, in one round trip to the database for the questions about the caller (this
    runs on every request that touches a patient)."""
    today = now.date()
    rpps = principal.rpps
    if rpps is None:
        return PatientFacts(
            nir=patient.nir,
            minor=is_minor(patient, today),
            representatives=representatives(session, patient.id) if principal.role is Role.PATIENT else frozenset(),
            opposes_emergency_access=bool(session.scalar(select(_opposes(patient.id)))),
        )
    row = session.execute(_professional_facts(), {"patient_id": patient.id, "rpps": rpps, "today": today,
                                                   "now": now}).one()  # fmt: skip
    return _professional_patient_facts(patient, rpps, today, row)
