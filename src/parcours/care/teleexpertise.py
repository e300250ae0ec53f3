"""Téléexpertise: a requesting professional asks a doctor for an opinion about a patient (question, documents,
the patient's consent); the expert answers within the legal delay; the answer goes to the requester and to the
médecin traitant. Answering bills both acts — TE2 for the expert, RQD for the requester — at 100 %, within the
yearly limit per patient (brief §5, parameters ``teleexpertise.*``).

The limit counts acts by the year of the act, as the rules engine does when it bills them on the answer's date: a
request is refused when the TE2 acts billed that year plus the requests still awaiting an answer reach the limit.
A request left unanswered past its deadline is ``expired`` (computed from ``answer_due_on``, nothing to run): it
can no longer be answered nor billed, frees its place in the count, and is listed for the requester and the MT;
the requester may cancel a request still pending.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from parcours.care import claims
from parcours.care.common import Input, Rpps, get_patient, law, now, paginate, professional_by_rpps, today
from parcours.care.declarations import gp_on, in_force
from parcours.care.errors import CareError, not_found
from parcours.record import service as record
from parcours.rules.catalogue import Profession
from parcours.rules.event import Act
from parcours.store.models import Claim, GpDeclaration, Teleexpertise

Priority = Literal["routine", "urgent"]
EXPERT_PROFESSIONS = (Profession.PHYSICIAN, Profession.MIDWIFE)
EXPERT_ACT = "TE2"
REQUESTER_ACT = "RQD"


class DocumentIn(Input):
    title: str = Field(min_length=1, max_length=200)
    content_type: str = Field(default="application/pdf", max_length=100)
    url: HttpUrl | None = None
    text: str | None = Field(default=None, max_length=20000)


class TeleexpertiseIn(Input):
    patient_id: str
    requester_rpps: Rpps
    expert_rpps: Rpps
    question: str = Field(min_length=3, max_length=10000)
    documents: list[DocumentIn] = Field(default=[], max_length=20)
    consent_at: dt.datetime = Field(description="Moment où le patient a été informé et a consenti")
    requested_on: dt.date | None = None
    priority: Priority = Field(default="routine", description="Priorité donnée par le requérant (urgent ou non)")


class AnswerIn(Input):
    expert_rpps: Rpps
    answer: str = Field(min_length=3, max_length=20000)
    answered_on: dt.date | None = None


class CancelIn(Input):
    requester_rpps: Rpps = Field(description="RPPS du requérant, seul à pouvoir annuler sa demande")
    reason: str | None = Field(default=None, max_length=1000)


class Delivery(BaseModel):
    """Who receives the expert's answer."""

    requester_rpps: str
    gp_rpps: str | None


STATUSES = ("requested", "answered", "cancelled", "expired")
PRIORITY_LABELS = {"urgent": "urgente", "routine": "normale"}


def pending(on: dt.date) -> ColumnElement[bool]:
    """Requests still awaiting an answer on ``on`` (not expired)."""
    return and_(Teleexpertise.status == "requested", Teleexpertise.answer_due_on >= on)


def expired(on: dt.date) -> ColumnElement[bool]:
    """Requests left without an answer past their deadline."""
    return and_(Teleexpertise.status == "requested", Teleexpertise.answer_due_on < on)


def status_of(item: Teleexpertise, on: dt.date | None = None) -> str:
    if item.status == "requested" and item.answer_due_on < (on or today()):
        return "expired"
    return item.status


def _with_status(query: Any, status: str | None) -> Any:
    if status == "expired":
        return query.where(expired(today()))
    if status == "requested":
        return query.where(pending(today()))
    return query.where(Teleexpertise.status == status) if status else query


def _used_this_year(session: Session, patient_id: str, year: int, expert_id: str) -> int:
    """TE2 acts billed by this expert in ``year`` (by the date of the act) and requests of that year to this expert
    still awaiting an answer: the limit is per patient and per expert doctor [S16a]."""
    billed = claims.teleexpertise_acts_of(session, patient_id, year, expert_id).get(EXPERT_ACT, 0)
    waiting = session.scalar(
        select(func.count()).where(
            Teleexpertise.patient_id == patient_id,
            Teleexpertise.expert_id == expert_id,
            pending(today()),
            Teleexpertise.requested_on >= dt.date(year, 1, 1),
            Teleexpertise.requested_on <= dt.date(year, 12, 31),
        )
    )
    return billed + (waiting or 0)


def request(session: Session, data: TeleexpertiseIn) -> Teleexpertise:
    on = data.requested_on or today()
    if on > today():
        raise CareError("requested_on", "la date de la demande ne peut pas être dans le futur")
    consent_at = data.consent_at if data.consent_at.tzinfo else data.consent_at.replace(tzinfo=dt.UTC)
    if consent_at > now():
        raise CareError("consent_at", "le consentement ne peut pas être dans le futur")
    patient = get_patient(session, data.patient_id, lock=True)
    requester = professional_by_rpps(session, data.requester_rpps, "requester_rpps")
    expert = professional_by_rpps(session, data.expert_rpps, "expert_rpps")
    if expert.profession not in EXPERT_PROFESSIONS:
        raise CareError("expert_rpps", "le professionnel requis est un médecin ou une sage-femme")
    if expert.id == requester.id:
        raise CareError("expert_rpps", "le requérant ne peut pas se solliciter lui-même")
    if consent_at.date() > on:
        raise CareError("consent_at", "le consentement est recueilli avant la demande")
    p = law(on)
    limit = p["teleexpertise.yearly_limit_per_patient"]
    if _used_this_year(session, patient.id, on.year, expert.id) >= limit:
        raise CareError(
            "patient_id",
            f"limite de {limit} téléexpertises par an pour ce patient avec ce médecin requis atteinte",
            "conflict",
        )
    item = Teleexpertise(
        patient_id=patient.id,
        requester_id=requester.id,
        expert_id=expert.id,
        question=data.question,
        documents=[d.model_dump(mode="json", exclude_none=True) for d in data.documents],
        consent_at=consent_at,
        requested_on=on,
        answer_due_on=on + dt.timedelta(days=p["teleexpertise.answer_delay_days"]),
        priority=data.priority,
    )
    session.add(item)
    session.flush()
    return item


def get(session: Session, teleexpertise_id: str) -> Teleexpertise:
    item = session.get(Teleexpertise, teleexpertise_id)
    if item is None:
        raise not_found("teleexpertise_id", "téléexpertise")
    return item


def _ensure_unanswered(item: Teleexpertise) -> None:
    """Answering and cancelling both need a request still waiting (pending or expired)."""
    if item.status != "requested":
        raise CareError("status", "cette téléexpertise a déjà reçu une réponse ou a été annulée", "conflict")


def answer(
    session: Session, teleexpertise_id: str, data: AnswerIn, *, recorded_on: dt.date | None = None
) -> tuple[Teleexpertise, Delivery]:
    """Record the expert's answer and bill both acts. ``recorded_on`` is the day it is recorded (today; the demo
    data replays a past day)."""
    recorded_on = recorded_on or today()
    item = get(session, teleexpertise_id)
    expert = professional_by_rpps(session, data.expert_rpps, "expert_rpps")
    if expert.id != item.expert_id:
        raise CareError("expert_rpps", "seul le professionnel sollicité peut répondre", "forbidden")
    _ensure_unanswered(item)
    on = data.answered_on or recorded_on
    if on > recorded_on:
        raise CareError("answered_on", "la date de la réponse ne peut pas être dans le futur")
    if on < item.requested_on:
        raise CareError("answered_on", "la réponse ne peut pas précéder la demande")
    if on > item.answer_due_on or status_of(item, recorded_on) == "expired":
        raise CareError(
            "answered_on", f"délai de réponse dépassé (au plus tard le {item.answer_due_on:%d/%m/%Y})", "conflict"
        )
    item.answer, item.answered_on, item.status = data.answer, on, "answered"
    expert_claim, _ = claims.submit(
        session,
        claims.ClaimIn(
            idempotency_key=f"teleexpertise:{item.id}:{EXPERT_ACT}",
            patient_id=item.patient_id,
            professional_rpps=expert.rpps,
            date=on,
            acts=[Act(code=EXPERT_ACT)],
        ),
    )
    requester_claim, _ = claims.submit(
        session,
        claims.ClaimIn(
            idempotency_key=f"teleexpertise:{item.id}:{REQUESTER_ACT}",
            patient_id=item.patient_id,
            professional_rpps=item.requester.rpps,
            date=on,
            acts=[Act(code=REQUESTER_ACT)],
        ),
    )
    item.expert_claim_id, item.requester_claim_id = expert_claim.id, requester_claim.id
    session.flush()
    record.land_document(  # the answer lands in the shared record, authored by the expert
        session, item.patient, expert, source=f"teleexpertise:{item.id}", document_type=record.TELEMEDICINE_REPORT,
        description=f"Réponse de téléexpertise du {on:%d/%m/%Y}", text=data.answer,
        related={"type": "ServiceRequest", "reference": f"ServiceRequest/teleexpertise-{item.id}"},
    )  # fmt: skip
    gp = gp_on(session, item.patient_id, on)
    return item, Delivery(requester_rpps=item.requester.rpps, gp_rpps=gp.rpps if gp else None)


def cancel(session: Session, teleexpertise_id: str, data: CancelIn) -> Teleexpertise:
    """The requester withdraws a request not answered yet (pending or expired)."""
    item = get(session, teleexpertise_id)
    requester = professional_by_rpps(session, data.requester_rpps, "requester_rpps")
    if requester.id != item.requester_id:
        raise CareError("requester_rpps", "seul le requérant peut annuler sa demande", "forbidden")
    _ensure_unanswered(item)
    item.status = "cancelled"
    session.flush()
    return item


def overdue_for(
    session: Session, professional_id: str, *, offset: int = 0, limit: int = 50
) -> tuple[list[Teleexpertise], int]:
    """Expired requests (no answer in time) that this professional asked, or that concern a patient of whom they
    are the médecin traitant today."""
    on = today()
    gp_of_patient = (
        select(GpDeclaration.id)
        .where(
            GpDeclaration.patient_id == Teleexpertise.patient_id,
            GpDeclaration.professional_id == professional_id,
            in_force(on),
        )
        .exists()
    )
    query = select(Teleexpertise).where(expired(on), or_(Teleexpertise.requester_id == professional_id, gp_of_patient))
    return paginate(session, query, (Teleexpertise.answer_due_on, Teleexpertise.id), offset, limit)


def for_professional(
    session: Session, professional_id: str, *, role: str = "expert", status: str | None = None,
    offset: int = 0, limit: int = 50,
) -> tuple[list[Teleexpertise], int]:  # fmt: skip
    column = Teleexpertise.expert_id if role == "expert" else Teleexpertise.requester_id
    query = _with_status(select(Teleexpertise).where(column == professional_id), status)
    return paginate(
        session,
        query,
        (
            Teleexpertise.requested_on,
            Teleexpertise.id,
        ),
        offset,
        limit,
    )


def claims_of(session: Session, item: Teleexpertise) -> list[Claim]:
    ids = [i for i in (item.expert_claim_id, item.requester_claim_id) if i]
    return list(session.scalars(select(Claim).where(Claim.id.in_(ids)))) if ids else []


def inbox(session: Session, expert_id: str, on: dt.date | None = None, *, limit: int = 100) -> list[Teleexpertise]:
    """The requests waiting for this expert's answer (not expired): the urgent first, then by deadline, then the
    oldest request."""
    on = on or today()
    query = select(Teleexpertise).where(Teleexpertise.expert_id == expert_id, pending(on))
    urgent_first = case((Teleexpertise.priority == "urgent", 0), else_=1)
    order = (urgent_first, Teleexpertise.answer_due_on, Teleexpertise.requested_on, Teleexpertise.id)
    return list(session.scalars(query.order_by(*order).limit(limit)))


def days_left(item: Teleexpertise, on: dt.date | None = None) -> int:
    """Days until the answer's deadline (0: the last day)."""
    return (item.answer_due_on - (on or today())).days


def of_patient(session: Session, patient_id: str, *, limit: int = 50) -> list[Teleexpertise]:
    """The téléexpertises about a patient, newest first (for the patient's own view)."""
    get_patient(session, patient_id)
    query = select(Teleexpertise).where(Teleexpertise.patient_id == patient_id)
    return list(session.scalars(query.order_by(Teleexpertise.requested_on.desc(), Teleexpertise.id).limit(limit)))
