"""Téléexpertise: a requesting professional asks a doctor for an opinion about a patient (question, documents,
the patient's consent); the expert answers within the legal delay; the answer goes to the requester and to the
médecin traitant. Answering bills both acts — TE2 for the expert, RQD for the requester — at 100 %, within the
yearly limit per patient (brief §5, parameters ``teleexpertise.*``).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parcours.care import claims
from parcours.care.common import Input, Rpps, get_patient, law, paginate, professional_by_rpps, today
from parcours.care.declarations import gp_on
from parcours.care.errors import CareError, not_found
from parcours.record import service as record
from parcours.rules.catalogue import Profession
from parcours.rules.event import Act
from parcours.store.models import Claim, Teleexpertise

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


class AnswerIn(Input):
    expert_rpps: Rpps
    answer: str = Field(min_length=3, max_length=20000)
    answered_on: dt.date | None = None


class Delivery(BaseModel):
    """Who receives the expert's answer."""

    requester_rpps: str
    gp_rpps: str | None


def _count_this_year(session: Session, patient_id: str, year: int) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                Teleexpertise.patient_id == patient_id,
                Teleexpertise.status != "cancelled",
                Teleexpertise.requested_on >= dt.date(year, 1, 1),
                Teleexpertise.requested_on <= dt.date(year, 12, 31),
            )
        )
        or 0
    )


def request(session: Session, data: TeleexpertiseIn) -> Teleexpertise:
    on = data.requested_on or today()
    patient = get_patient(session, data.patient_id, lock=True)
    requester = professional_by_rpps(session, data.requester_rpps, "requester_rpps")
    expert = professional_by_rpps(session, data.expert_rpps, "expert_rpps")
    if expert.profession not in EXPERT_PROFESSIONS:
        raise CareError("expert_rpps", "le professionnel requis est un médecin ou une sage-femme")
    if expert.id == requester.id:
        raise CareError("expert_rpps", "le requérant ne peut pas se solliciter lui-même")
    if data.consent_at.date() > on:
        raise CareError("consent_at", "le consentement est recueilli avant la demande")
    p = law(on)
    limit = p["teleexpertise.yearly_limit_per_patient"]
    if _count_this_year(session, patient.id, on.year) >= limit:
        raise CareError("patient_id", f"limite de {limit} téléexpertises par patient et par an atteinte", "conflict")
    item = Teleexpertise(
        patient_id=patient.id,
        requester_id=requester.id,
        expert_id=expert.id,
        question=data.question,
        documents=[d.model_dump(mode="json", exclude_none=True) for d in data.documents],
        consent_at=data.consent_at,
        requested_on=on,
        answer_due_on=on + dt.timedelta(days=p["teleexpertise.answer_delay_days"]),
    )
    session.add(item)
    session.flush()
    return item


def get(session: Session, teleexpertise_id: str) -> Teleexpertise:
    item = session.get(Teleexpertise, teleexpertise_id)
    if item is None:
        raise not_found("teleexpertise_id", "téléexpertise")
    return item


def answer(session: Session, teleexpertise_id: str, data: AnswerIn) -> tuple[Teleexpertise, Delivery]:
    item = get(session, teleexpertise_id)
    expert = professional_by_rpps(session, data.expert_rpps, "expert_rpps")
    if expert.id != item.expert_id:
        raise CareError("expert_rpps", "seul le professionnel sollicité peut répondre", "forbidden")
    if item.status != "requested":
        raise CareError("status", "cette téléexpertise a déjà reçu une réponse ou a été annulée", "conflict")
    on = data.answered_on or today()
    if on < item.requested_on:
        raise CareError("answered_on", "la réponse ne peut pas précéder la demande")
    if on > item.answer_due_on:
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


def for_professional(
    session: Session, professional_id: str, *, role: str = "expert", status: str | None = None,
    offset: int = 0, limit: int = 50,
) -> tuple[list[Teleexpertise], int]:  # fmt: skip
    column = Teleexpertise.expert_id if role == "expert" else Teleexpertise.requester_id
    query = select(Teleexpertise).where(column == professional_id)
    if status:
        query = query.where(Teleexpertise.status == status)
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
