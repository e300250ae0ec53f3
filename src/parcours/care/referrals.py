"""Adressage: a doctor refers a patient to a specialist (or to a specialty); the specialist accepts, sees the
patient and sends a report back, which closes the loop.

Who may refer (brief §2): the médecin traitant (indicator O), or another doctor when the patient has declared a
médecin traitant (indicator M). A referral covers the visits of its follow-up sequence for a period (a parameter);
referrals left without a report past their deadline are listed for the MT, for continuity of care.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from dateutil.relativedelta import relativedelta
from pydantic import Field, model_validator
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from parcours.care.common import Input, Rpps, get_patient, law, paginate, professional_by_rpps, today
from parcours.care.declarations import gp_on, in_force
from parcours.care.errors import CareError, not_found
from parcours.record import service as record
from parcours.rules.catalogue import Profession
from parcours.rules.event import Specialty
from parcours.store.models import GpDeclaration, Professional, Referral

Urgency = Literal["routine", "urgent"]
OPEN_STATUSES = ("requested", "accepted", "seen")


class ReferralIn(Input):
    patient_id: str
    referrer_rpps: Rpps = Field(description="RPPS du médecin qui adresse")
    target_rpps: Rpps | None = Field(default=None, description="RPPS du médecin correspondant, s'il est choisi")
    target_specialty: Specialty | None = Field(default=None, description="Spécialité, si aucun médecin n'est choisi")
    reason: str = Field(min_length=3, max_length=4000, description="Motif de l'adressage")
    urgency: Urgency = "routine"
    issued_on: dt.date | None = None

    @model_validator(mode="after")
    def _target(self) -> ReferralIn:
        if self.target_rpps is None and self.target_specialty is None:
            raise ValueError("indiquer le médecin correspondant (target_rpps) ou la spécialité (target_specialty)")
        return self


class ReportIn(Input):
    professional_rpps: Rpps
    report: str = Field(min_length=3, max_length=20000, description="Compte rendu adressé au médecin traitant")
    reported_on: dt.date | None = None


def _not_future(on: dt.date, field: str) -> None:
    if on > today():
        raise CareError(field, "la date ne peut pas être dans le futur")


def refer(session: Session, data: ReferralIn) -> Referral:
    issued_on = data.issued_on or today()
    _not_future(issued_on, "issued_on")
    patient = get_patient(session, data.patient_id)
    referrer = professional_by_rpps(session, data.referrer_rpps, "referrer_rpps")
    if referrer.profession != Profession.PHYSICIAN:
        raise CareError("referrer_rpps", "seul un médecin peut adresser un patient à un confrère", "forbidden")
    gp = gp_on(session, patient.id, issued_on)
    if gp is None:
        raise CareError(
            "referrer_rpps",
            "le patient n'a pas déclaré de médecin traitant : l'adressage ne le place pas dans le parcours",
            "forbidden",
        )
    target: Professional | None = None
    specialty = data.target_specialty.value if data.target_specialty else None
    if data.target_rpps is not None:
        target = professional_by_rpps(session, data.target_rpps, "target_rpps")
        if target.profession != Profession.PHYSICIAN:
            raise CareError("target_rpps", "l'adressage se fait vers un médecin")
        if target.id == referrer.id:
            raise CareError("target_rpps", "un médecin ne s'adresse pas un patient à lui-même")
        if specialty is not None and target.specialty != specialty:
            raise CareError("target_specialty", "ne correspond pas à la spécialité du médecin choisi")
        specialty = target.specialty
    assert specialty is not None
    p = law(issued_on)
    delay = p["coordination.referral.urgent_report_delay_days" if data.urgency == "urgent" else
              "coordination.referral.report_delay_days"]  # fmt: skip
    referral = Referral(
        patient_id=patient.id,
        referrer_id=referrer.id,
        referrer_is_gp=referrer.id == gp.id,
        target_id=target.id if target else None,
        target_specialty=specialty,
        reason=data.reason,
        urgency=data.urgency,
        issued_on=issued_on,
        report_due_on=issued_on + dt.timedelta(days=delay),
        covers_until=issued_on + relativedelta(months=p["coordination.referral.covered_months"]),
    )
    session.add(referral)
    session.flush()
    return referral


def get_referral(session: Session, referral_id: str) -> Referral:
    referral = session.get(Referral, referral_id)
    if referral is None:
        raise not_found("referral_id", "adressage")
    return referral


def _as_target(session: Session, referral: Referral, rpps: str) -> Professional:
    professional = professional_by_rpps(session, rpps, "professional_rpps")
    if referral.target_id is not None and referral.target_id != professional.id:
        raise CareError("professional_rpps", "cet adressage est destiné à un autre médecin", "forbidden")
    if referral.target_id is None and professional.specialty != referral.target_specialty:
        raise CareError("professional_rpps", "cet adressage vise une autre spécialité", "forbidden")
    return professional


def accept(session: Session, referral_id: str, rpps: str, on: dt.date | None = None) -> Referral:
    referral = get_referral(session, referral_id)
    professional = _as_target(session, referral, rpps)
    if referral.status != "requested":
        raise CareError("status", f"adressage déjà {_STATUS_FR[referral.status]}", "conflict")
    on = on or today()
    _not_future(on, "on")
    if on < referral.issued_on:
        raise CareError("on", "l'acceptation ne peut pas précéder l'adressage")
    referral.target_id = professional.id
    referral.status = "accepted"
    referral.accepted_on = on
    session.flush()
    return referral


def record_visit(session: Session, referral: Referral, on: dt.date) -> None:
    """The specialist saw the patient (called when a covered claim is paid)."""
    if referral.first_visit_on is None:
        referral.first_visit_on = on
    if referral.status in ("requested", "accepted"):
        referral.status = "seen"


def report(session: Session, referral_id: str, data: ReportIn) -> Referral:
    referral = get_referral(session, referral_id)
    professional = _as_target(session, referral, data.professional_rpps)
    if referral.status in ("closed", "cancelled"):
        raise CareError("status", f"adressage déjà {_STATUS_FR[referral.status]}", "conflict")
    reported_on = data.reported_on or today()
    _not_future(reported_on, "reported_on")
    if reported_on < referral.issued_on:
        raise CareError("reported_on", "le compte rendu ne peut pas précéder l'adressage")
    referral.target_id = professional.id
    referral.report = data.report
    referral.reported_on = reported_on
    referral.status = "closed"
    session.flush()
    record.land_document(  # the report lands in the shared record, authored by the specialist
        session, referral.patient, professional, source=f"referral:{referral.id}",
        document_type=record.CONSULTATION_REPORT,
        description=f"Compte rendu d'adressage ({referral.target_specialty}) du {referral.reported_on:%d/%m/%Y}",
        text=data.report, related={"type": "ServiceRequest", "reference": f"ServiceRequest/referral-{referral.id}"},
    )  # fmt: skip
    return referral


def cancel(session: Session, referral_id: str, rpps: str) -> Referral:
    referral = get_referral(session, referral_id)
    referrer = professional_by_rpps(session, rpps, "professional_rpps")
    if referrer.id != referral.referrer_id:
        raise CareError("professional_rpps", "seul le médecin qui a adressé peut annuler", "forbidden")
    if referral.status not in ("requested", "accepted"):
        raise CareError("status", f"adressage déjà {_STATUS_FR[referral.status]}", "conflict")
    referral.status = "cancelled"
    session.flush()
    return referral


def covering_query(patient_id: str, professional: Professional, on: dt.date) -> Select[Referral]:
    """The referrals that place a visit of this doctor on this date inside the pathway, latest first (limit 1)."""
    return covering_by(patient_id, professional.id, professional.specialty, on)


def covering_by(patient_id: Any, professional_id: Any, specialty: Any, on: Any) -> Select[Referral]:
    """``covering_query`` from values or bound parameters (the claim's facts are a statement built once)."""
    return (
        select(Referral)
        .where(
            Referral.patient_id == patient_id,
            Referral.status != "cancelled",
            Referral.issued_on <= on,
            Referral.covers_until >= on,
            or_(
                Referral.target_id == professional_id,
                # IS NOT DISTINCT FROM: a doctor without specialty matches the referrals without one, as "== None"
                Referral.target_id.is_(None) & Referral.target_specialty.is_not_distinct_from(specialty),
            ),
        )
        .order_by(Referral.issued_on.desc())
        .limit(1)
    )


def covering(session: Session, patient_id: str, professional: Professional, on: dt.date) -> Referral | None:
    """The referral that places a visit of this doctor on this date inside the pathway, if any."""
    return session.scalars(covering_query(patient_id, professional, on)).one_or_none()


ReferralRole = Literal["target", "referrer"]


def for_professional(
    session: Session,
    professional_id: str,
    *,
    role: ReferralRole = "target",
    status: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[Referral], int]:
    professional = session.get(Professional, professional_id)
    if professional is None:
        raise not_found("professional_id", "professionnel")
    if role == "target":
        query = select(Referral).where(
            or_(
                Referral.target_id == professional.id,
                (Referral.target_id.is_(None)) & (Referral.target_specialty == professional.specialty),
            )
        )
    else:
        query = select(Referral).where(Referral.referrer_id == professional.id)
    query = query.where(Referral.status == status) if status else query.where(Referral.status.in_(OPEN_STATUSES))
    return paginate(
        session,
        query,
        (
            Referral.issued_on,
            Referral.id,
        ),
        offset,
        limit,
    )


def overdue_for_gp(
    session: Session, professional_id: str, on: dt.date | None = None, *, offset: int = 0, limit: int = 50
) -> tuple[list[Referral], int]:
    """Referrals of the doctor's patients still without a report past their deadline (continuity of care)."""
    on = on or today()
    query = (
        select(Referral)
        .join(GpDeclaration, GpDeclaration.patient_id == Referral.patient_id)
        .where(
            GpDeclaration.professional_id == professional_id,
            in_force(on),
            Referral.status.in_(OPEN_STATUSES),
            Referral.report_due_on < on,
        )
    )
    return paginate(
        session,
        query,
        (
            Referral.report_due_on,
            Referral.id,
        ),
        offset,
        limit,
    )


def of_patient(
    session: Session, patient_id: str, *, status: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[Referral], int]:
    get_patient(session, patient_id)
    query = select(Referral).where(Referral.patient_id == patient_id)
    if status:
        query = query.where(Referral.status == status)
    return paginate(session, query, (Referral.issued_on, Referral.id), offset, limit)


_STATUS_FR = {
    "requested": "demandé",
    "accepted": "accepté",
    "seen": "honoré",
    "closed": "clos par son compte rendu",
    "cancelled": "annulé",
}


# --- a professional's referral lists, as the professional space shows them ----------------------------------------


def is_overdue(referral: Referral, on: dt.date | None = None) -> bool:
    """Still without a report past its deadline (the MT is told: continuity of care)."""
    return referral.status in OPEN_STATUSES and referral.report_due_on < (on or today())


def status_label(referral: Referral) -> str:
    return STATUS_LABELS[referral.status]


def sent_and_received(
    session: Session,
    professional_id: str,
    role: ReferralRole,
    *,
    open_only: bool = True,
    on: dt.date | None = None,
    limit: int = 100,
) -> list[tuple[Referral, bool]]:
    """Referrals a doctor sent (``referrer``) or received (``target``, named or by specialty), each with its overdue
    flag; overdue ones first, then the urgent, then by deadline. ``open_only`` False adds the closed and cancelled
    ones (most recent first after the open ones)."""
    on = on or today()
    rows: list[Referral] = []
    statuses = [None] if open_only else [None, "closed", "cancelled"]
    for status in statuses:
        found, _ = for_professional(session, professional_id, role=role, status=status, limit=limit)
        rows.extend(found)

    def order(referral: Referral) -> tuple[int, int, dt.date, str]:
        overdue = is_overdue(referral, on)
        closed = referral.status not in OPEN_STATUSES
        return (
            2 if closed else 0 if overdue else 1,
            0 if referral.urgency == "urgent" and not closed else 1,
            referral.report_due_on if not closed else dt.date.max - (referral.issued_on - dt.date.min),
            referral.id,
        )

    return [(r, is_overdue(r, on)) for r in sorted(rows, key=order)]


STATUS_LABELS = _STATUS_FR  # French, for the pages
