"""Déclarations de médecin traitant, with their full history.

The doctor registers the declaration with the patient's consent (the carte Vitale moment); it takes effect at once
and ends the previous one. It never starts in the future (the doctor would see the patient before being chosen and
the current MT would lose them on a date still to come); it starts before the day it is registered only for a paper
form (S3704) keyed in late, on its date of receipt, within ``coordination.declaration.late_registration_days``.
"In force on D" is always a matter of dates (``in_force``), never of an open end alone. One active declaration per patient, always: the patient row is locked for the
transaction and a partial unique index in the database is the last word when two declarations race.
A minor is declared by a parent or legal representative.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parcours.care.common import Input, Nir, Rpps, age_on, get_patient, get_professional, law, now, today
from parcours.care.errors import CareError
from parcours.rules.catalogue import Profession
from parcours.store.models import GpDeclaration, Patient, Professional

EndReason = Literal["replaced", "patient_request", "retirement", "death", "relocation"]
END_REASON_LABELS: dict[str, str] = {  # French, for the patient's access history
    "replaced": "remplacée par une nouvelle déclaration",
    "patient_request": "à la demande du patient",
    "retirement": "départ en retraite du médecin",
    "death": "décès",
    "relocation": "déménagement",
}


class DeclarationIn(Input):
    patient_id: str
    professional_rpps: Rpps = Field(description="RPPS du médecin qui devient médecin traitant")
    start: dt.date | None = Field(
        default=None,
        description="Date d'effet : aujourd'hui par défaut ; antérieure seulement pour un formulaire papier reçu "
        "(dans la limite de coordination.declaration.late_registration_days), jamais future",
    )
    consent_at: dt.datetime = Field(
        description="Consentement du patient (carte Vitale ou signature du formulaire) : au plus tard la date d'effet"
    )
    representative_nir: Nir | None = Field(default=None, description="NIR du parent qui déclare pour un mineur")


def in_force(on: dt.date | ColumnElement[dt.date]) -> ColumnElement[bool]:
    """The declarations in force on ``on``: started, and not ended (the end date is exclusive)."""
    return and_(GpDeclaration.start <= on, or_(GpDeclaration.end.is_(None), GpDeclaration.end > on))


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _check_dates(start: dt.date, consent_at: dt.datetime, registered_on: dt.date) -> None:
    if start > registered_on:
        raise CareError("start", "la déclaration prend effet dès son enregistrement : pas de date d'effet future")
    late = law(registered_on)["coordination.declaration.late_registration_days"]
    if start < registered_on - dt.timedelta(days=late):
        raise CareError(
            "start",
            f"date d'effet antérieure de plus de {late} jours à l'enregistrement "
            "(seul un formulaire papier reçu récemment peut être antidaté)",
        )
    if consent_at > now() or consent_at.date() > registered_on:
        raise CareError("consent_at", "le consentement ne peut pas être dans le futur")
    if consent_at.date() > start:
        raise CareError("consent_at", "le consentement du patient précède la date d'effet de la déclaration")


def declare(session: Session, data: DeclarationIn, *, registered_on: dt.date | None = None) -> GpDeclaration:
    """Register a declaration. ``registered_on`` is the day of registration (today; the demo data replays a town's
    past with earlier days)."""
    registered_on = registered_on or today()
    start = data.start or registered_on
    consent_at = _utc(data.consent_at)
    _check_dates(start, consent_at, registered_on)
    patient = get_patient(session, data.patient_id, lock=True)  # serialises declarations for this patient
    doctor = session.scalars(select(Professional).where(Professional.rpps == data.professional_rpps)).one_or_none()
    if doctor is None:
        raise CareError("professional_rpps", "aucun médecin enregistré avec ce RPPS", "not_found")
    if doctor.profession != Profession.PHYSICIAN or not doctor.active:
        raise CareError("professional_rpps", "seul un médecin en exercice peut être déclaré médecin traitant")
    minor = age_on(patient.birth_date, start) < law(start)["record.majority_age"]
    if minor and data.representative_nir is None:
        raise CareError("representative_nir", "un mineur est déclaré par un parent ou représentant légal (NIR)")
    if not minor and data.representative_nir is not None:
        raise CareError("representative_nir", "un patient majeur déclare lui-même son médecin traitant")
    if data.representative_nir == patient.nir:
        raise CareError("representative_nir", "le représentant ne peut pas être le patient lui-même")

    # the declarations still running on the start date (open, or ending later, e.g. an announced retirement)
    running = session.scalars(
        select(GpDeclaration).where(
            GpDeclaration.patient_id == patient.id, or_(GpDeclaration.end.is_(None), GpDeclaration.end > start)
        )
    ).all()
    for current in running:
        if current.professional_id == doctor.id:
            raise CareError("professional_rpps", "ce médecin est déjà le médecin traitant du patient", "conflict")
        if start < current.start:
            raise CareError("start", "la déclaration ne peut pas précéder la déclaration en cours")
        current.end = start
        current.end_reason = "replaced"
    session.flush()  # the old row leaves the unique index before the new one enters it
    declaration = GpDeclaration(
        patient_id=patient.id,
        professional_id=doctor.id,
        start=start,
        declared_by="representative" if minor else "patient",
        representative_nir=data.representative_nir,
        consent_at=consent_at,
    )
    session.add(declaration)
    try:
        session.flush()
    except IntegrityError:
        raise CareError("patient_id", "une autre déclaration est en cours pour ce patient", "conflict") from None
    return declaration


def active_declaration(session: Session, patient_id: str) -> GpDeclaration | None:
    return session.scalars(
        select(GpDeclaration).where(GpDeclaration.patient_id == patient_id, GpDeclaration.end.is_(None))
    ).one_or_none()


def declaration_on(session: Session, patient_id: str, on: dt.date) -> GpDeclaration | None:
    """The declaration in force on ``on`` (the end date is exclusive: a replacement takes effect that day)."""
    return session.scalars(
        select(GpDeclaration)
        .where(GpDeclaration.patient_id == patient_id, in_force(on))
        .order_by(GpDeclaration.start.desc())
        .limit(1)
    ).one_or_none()


def gp_on(session: Session, patient_id: str, on: dt.date) -> Professional | None:
    declaration = declaration_on(session, patient_id, on)
    return declaration.professional if declaration else None


def history(session: Session, patient_id: str) -> list[GpDeclaration]:
    get_patient(session, patient_id)
    return list(
        session.scalars(
            select(GpDeclaration)
            .where(GpDeclaration.patient_id == patient_id)
            .order_by(GpDeclaration.start, GpDeclaration.created_at)
        )
    )


def end_declaration(session: Session, patient_id: str, end: dt.date | None, reason: EndReason) -> GpDeclaration:
    get_patient(session, patient_id, lock=True)
    current = active_declaration(session, patient_id)
    if current is None:
        raise CareError("patient_id", "le patient n'a pas de médecin traitant déclaré", "conflict")
    end = end or today()
    if end < current.start:
        raise CareError("end", "la fin précède le début de la déclaration")
    current.end, current.end_reason = end, reason
    session.flush()
    return current


def retire(session: Session, professional_id: str, on: dt.date | None, reason: EndReason) -> list[Patient]:
    """The doctor stops being médecin traitant (retirement…): every active declaration ends; returns the patients
    concerned, who must declare someone else."""
    doctor = get_professional(session, professional_id)
    on = on or today()
    declarations = list(
        session.scalars(
            select(GpDeclaration)
            .where(GpDeclaration.professional_id == doctor.id, GpDeclaration.end.is_(None))
            .with_for_update()
        )
    )
    for declaration in declarations:
        declaration.end = max(on, declaration.start)
        declaration.end_reason = reason
    if reason == "retirement":
        doctor.active = False
    session.flush()
    return [d.patient for d in declarations]


def patients_of(session: Session, professional_id: str, on: dt.date | None = None) -> list[Patient]:
    get_professional(session, professional_id)
    on = on or today()
    return list(
        session.scalars(
            select(Patient)
            .join(GpDeclaration, GpDeclaration.patient_id == Patient.id)
            .where(GpDeclaration.professional_id == professional_id, in_force(on))
            .order_by(Patient.family_name, Patient.given_name)
        )
    )


def search_patients_of(
    session: Session, professional_id: str, text: str | None = None, on: dt.date | None = None,
    *, offset: int = 0, limit: int = 50,
) -> tuple[list[tuple[Patient, GpDeclaration]], int]:  # fmt: skip
    """The doctor's patientèle médecin traitant on ``on``, each with its declaration, searched by name (family or
    given name, its start, whatever the case), by NIR (its start) or by birth date (JJ/MM/AAAA)."""
    get_professional(session, professional_id)
    on = on or today()
    query = (
        select(Patient, GpDeclaration)
        .join(GpDeclaration, GpDeclaration.patient_id == Patient.id)
        .where(GpDeclaration.professional_id == professional_id, in_force(on))
    )
    words = (text or "").split()
    for word in words:
        digits = word.replace(" ", "")
        born = _as_date(word)
        if born is not None:
            query = query.where(Patient.birth_date == born)
        elif digits.isdigit():
            query = query.where(Patient.nir.startswith(digits))
        else:
            lowered = word.lower()
            query = query.where(
                or_(func.lower(Patient.family_name).startswith(lowered),
                    func.lower(Patient.given_name).startswith(lowered))
            )  # fmt: skip
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(
        query.order_by(Patient.family_name, Patient.given_name, Patient.id).offset(offset).limit(limit)
    ).all()
    return [(patient, declaration) for patient, declaration in rows], total


def _as_date(word: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(word, "%d/%m/%Y").date()
    except ValueError:
        try:
            return dt.date.fromisoformat(word)
        except ValueError:
            return None
