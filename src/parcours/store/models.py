"""The coordination store: who is whose médecin traitant since when, who referred whom, which advice was asked,
which claims were paid and why.

Amounts are integer cents, like everywhere inside parcours. History is never overwritten: a declaration is ended,
a claim is cancelled or replaced, and the old rows stay.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    return str(uuid.uuid4())


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A moment, always timezone-aware UTC in and out, on every backend: SQLite keeps no offset, so its values came
    back naive (and a value with another offset was stored without it). Naive input is taken as UTC. Same column
    type as ``DateTime(timezone=True)``: no migration."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class Professional(Timestamped, Base):
    __tablename__ = "professionals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    rpps: Mapped[str] = mapped_column(String(11), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    profession: Mapped[str] = mapped_column(String(32))
    specialty: Mapped[str | None] = mapped_column(String(32))
    sector: Mapped[str] = mapped_column(String(1), default="1")
    optam: Mapped[bool] = mapped_column(Boolean, default=False)
    installed_on: Mapped[dt.date | None] = mapped_column(Date)
    underserved_area: Mapped[bool] = mapped_column(Boolean, default=False)
    practice_name: Mapped[str | None] = mapped_column(String(200))
    practice_address: Mapped[str | None] = mapped_column(String(200))
    practice_postcode: Mapped[str | None] = mapped_column(String(5))
    practice_city: Mapped[str | None] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (CheckConstraint("sector in ('1', '2', '3')", name="sector"),)


class Patient(Timestamped, Base):
    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    nir: Mapped[str] = mapped_column(String(15), unique=True)
    # FHIR identifier system of the NIR: null for a real INS-NIR; the FR Core test/demo OIDs for synthetic people
    nir_system: Mapped[str | None] = mapped_column(String(64))
    family_name: Mapped[str] = mapped_column(String(100))
    given_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(8))
    regime: Mapped[str] = mapped_column(String(32), default="general")
    c2s: Mapped[bool] = mapped_column(Boolean, default=False)
    mutuelle_contract: Mapped[str | None] = mapped_column(String(100))

    ald_periods: Mapped[list[AldPeriod]] = relationship(
        back_populates="patient", order_by="AldPeriod.start", cascade="all, delete-orphan"
    )
    pregnancies: Mapped[list[Pregnancy]] = relationship(
        back_populates="patient", order_by="Pregnancy.start", cascade="all, delete-orphan"
    )

    __table_args__ = (CheckConstraint("sex in ('female', 'male', 'other', 'unknown')", name="sex"),)


class AldPeriod(Base):
    """An affection de longue durée recognised for a period (its protocole de soins)."""

    __tablename__ = "ald_periods"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date)

    patient: Mapped[Patient] = relationship(back_populates="ald_periods")


class Pregnancy(Base):
    __tablename__ = "pregnancies"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    start: Mapped[dt.date] = mapped_column(Date)
    delivery: Mapped[dt.date | None] = mapped_column(Date)

    patient: Mapped[Patient] = relationship(back_populates="pregnancies")


class GpDeclaration(Timestamped, Base):
    """A déclaration de médecin traitant. Active while ``end`` is null; at most one active per patient, enforced
    by a partial unique index so that two racing declarations cannot both win."""

    __tablename__ = "gp_declarations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    professional_id: Mapped[str] = mapped_column(ForeignKey("professionals.id"), index=True)
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    declared_by: Mapped[str] = mapped_column(String(16), default="patient")
    representative_nir: Mapped[str | None] = mapped_column(String(15))
    consent_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())

    patient: Mapped[Patient] = relationship()
    professional: Mapped[Professional] = relationship()

    __table_args__ = (
        Index(
            "uq_gp_declarations_one_active",
            "patient_id",
            unique=True,
            sqlite_where=text('"end" IS NULL'),
            postgresql_where=text('"end" IS NULL'),
        ),
        CheckConstraint('"end" IS NULL OR "end" >= start', name="period"),
        CheckConstraint("declared_by in ('patient', 'representative')", name="declared_by"),
    )


class Referral(Timestamped, Base):
    """An adressage: a doctor refers a patient to a specialist (or a specialty); the report closes the loop."""

    __tablename__ = "referrals"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    referrer_id: Mapped[str] = mapped_column(ForeignKey("professionals.id"), index=True)
    referrer_is_gp: Mapped[bool] = mapped_column(Boolean)
    target_id: Mapped[str | None] = mapped_column(ForeignKey("professionals.id"), index=True)
    target_specialty: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(16), default="routine")
    status: Mapped[str] = mapped_column(String(16), default="requested", index=True)
    issued_on: Mapped[dt.date] = mapped_column(Date)
    report_due_on: Mapped[dt.date] = mapped_column(Date)
    covers_until: Mapped[dt.date] = mapped_column(Date)
    accepted_on: Mapped[dt.date | None] = mapped_column(Date)
    first_visit_on: Mapped[dt.date | None] = mapped_column(Date)
    report: Mapped[str | None] = mapped_column(Text)
    reported_on: Mapped[dt.date | None] = mapped_column(Date)

    patient: Mapped[Patient] = relationship()
    referrer: Mapped[Professional] = relationship(foreign_keys=[referrer_id])
    target: Mapped[Professional | None] = relationship(foreign_keys=[target_id])

    __table_args__ = (
        CheckConstraint("status in ('requested', 'accepted', 'seen', 'closed', 'cancelled')", name="status"),
        CheckConstraint("urgency in ('routine', 'urgent')", name="urgency"),
    )


class Teleexpertise(Timestamped, Base):
    """A request for a colleague's opinion (téléexpertise): question, documents, the patient's consent, answer."""

    __tablename__ = "teleexpertises"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    requester_id: Mapped[str] = mapped_column(ForeignKey("professionals.id"), index=True)
    expert_id: Mapped[str] = mapped_column(ForeignKey("professionals.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    documents: Mapped[list[Any]] = mapped_column(default=list)
    consent_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    requested_on: Mapped[dt.date] = mapped_column(Date)
    answer_due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="requested", index=True)
    priority: Mapped[str] = mapped_column(String(16), default="routine", server_default="routine")
    answer: Mapped[str | None] = mapped_column(Text)
    answered_on: Mapped[dt.date | None] = mapped_column(Date)
    expert_claim_id: Mapped[str | None] = mapped_column(ForeignKey("claims.id"))
    requester_claim_id: Mapped[str | None] = mapped_column(ForeignKey("claims.id"))

    patient: Mapped[Patient] = relationship()
    requester: Mapped[Professional] = relationship(foreign_keys=[requester_id])
    expert: Mapped[Professional] = relationship(foreign_keys=[expert_id])

    __table_args__ = (
        CheckConstraint("status in ('requested', 'answered', 'cancelled')", name="status"),
        CheckConstraint("priority in ('routine', 'urgent')", name="priority"),
    )


class Teleconsultation(Timestamped, Base):
    """A teleconsultation with the conditions the rules check (known patient, orientation or its exception)."""

    __tablename__ = "teleconsultations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    professional_id: Mapped[str] = mapped_column(ForeignKey("professionals.id"), index=True)
    held_on: Mapped[dt.date] = mapped_column(Date)
    video: Mapped[bool] = mapped_column(Boolean, default=True)
    oriented_by_gp: Mapped[bool] = mapped_column(Boolean, default=False)
    gp_unavailable: Mapped[bool] = mapped_column(Boolean, default=False)
    last_in_person_visit: Mapped[dt.date | None] = mapped_column(Date)
    claim_id: Mapped[str | None] = mapped_column(ForeignKey("claims.id"))


class Claim(Timestamped, Base):
    """A feuille de soins and the decision on it. Corrections are new versions; nothing is overwritten."""

    __tablename__ = "claims"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"))  # indexed with the care date, below
    professional_id: Mapped[str] = mapped_column(ForeignKey("professionals.id"), index=True)
    care_date: Mapped[dt.date] = mapped_column(Date, index=True)
    teleconsultation: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="paid", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    replaces_id: Mapped[str | None] = mapped_column(ForeignKey("claims.id"))
    referral_id: Mapped[str | None] = mapped_column(ForeignKey("referrals.id"))
    request: Mapped[dict[str, Any]] = mapped_column()
    event: Mapped[dict[str, Any]] = mapped_column()
    state_before: Mapped[dict[str, Any]] = mapped_column()
    adjudication: Mapped[dict[str, Any]] = mapped_column()
    pathway: Mapped[str | None] = mapped_column(String(1))
    in_pathway: Mapped[bool | None] = mapped_column(Boolean)
    billed: Mapped[int] = mapped_column(Integer)
    amo: Mapped[int] = mapped_column(Integer)
    patient_share: Mapped[int] = mapped_column(Integer)
    # what this claim added to the patient's tiers-payant debts, in cents: deferred less recovered (``OwedTotal``)
    owed_participation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    owed_franchises: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    patient: Mapped[Patient] = relationship()
    professional: Mapped[Professional] = relationship()
    lines: Mapped[list[ClaimLine]] = relationship(
        back_populates="claim", order_by="ClaimLine.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("status in ('paid', 'rejected', 'cancelled', 'replaced')", name="status"),
        CheckConstraint("billed = amo + patient_share", name="balance"),
        # a patient's claims by date: the facts on the date of care read the patient's year or what follows a date
        Index("ix_claims_patient_id_care_date", "patient_id", "care_date"),
    )


class ClaimLine(Base):
    """One adjudicated act of a claim, with the amounts that feed the year-to-date caps."""

    __tablename__ = "claim_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)
    fee: Mapped[int] = mapped_column(Integer)
    base: Mapped[int] = mapped_column(Integer)
    rate: Mapped[int] = mapped_column(Integer)
    majoration: Mapped[int] = mapped_column(Integer)
    participation: Mapped[int] = mapped_column(Integer)
    franchise: Mapped[int] = mapped_column(Integer)
    amo: Mapped[int] = mapped_column(Integer)
    patient_share: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), index=True)  # the refusal reason code of the line

    claim: Mapped[Claim] = relationship(back_populates="lines")

    __table_args__ = (
        UniqueConstraint("claim_id", "position", name="uq_claim_lines_position"),
        CheckConstraint("fee = amo + patient_share", name="balance"),
    )


class YearToDateState(Base):
    """What a patient bore in a calendar year, materialised from their active claims (caps read it)."""

    __tablename__ = "year_to_date"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    participation_paid: Mapped[int] = mapped_column(Integer, default=0)
    franchises_paid: Mapped[int] = mapped_column(Integer, default=0)
    teleexpertise_acts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    claims_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), server_default=func.now(), onupdate=func.now())


class OwedTotal(Base):
    """A patient's tiers-payant debts over all their claims that stand, any date, in cents: the sums of the claims'
    ``owed_participation`` and ``owed_franchises``, kept in each claim's transaction (the patient's row locked), so
    that a claim reads them in one row rather than summing every claim of the patient. The debts on a date are these
    less what the claims of later care dates added. No row: no claim of the patient changed them."""

    __tablename__ = "owed_totals"

    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), primary_key=True)
    participation: Mapped[int] = mapped_column(Integer, default=0)
    franchises: Mapped[int] = mapped_column(Integer, default=0)


class SignedOutSession(Base):
    """A web session ended by sign-out before its end: its cookie, even a copy taken before, is refused until
    ``ends_at`` (when the cookie would have expired anyway and the row can go)."""

    __tablename__ = "web_signed_out_sessions"

    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ends_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
