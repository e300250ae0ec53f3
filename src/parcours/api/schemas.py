"""Response models of the JSON API (what the OpenAPI document shows)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from parcours.care.people import PatientView, ProfessionalView
from parcours.care.teleexpertise import status_of
from parcours.record.service import Disclosure
from parcours.store.models import Claim, GpDeclaration, Referral, Teleexpertise

T = TypeVar("T")


def _as_utc(moment: dt.datetime) -> dt.datetime:
    # the store writes UTC; SQLite gives timestamps back without their zone
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


UtcDatetime = Annotated[dt.datetime, AfterValidator(_as_utc)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class View(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ProfessionalRef(View):
    id: str
    rpps: str
    family_name: str
    given_name: str
    specialty: str | None


class DeclarationView(View):
    id: str
    patient_id: str
    professional: ProfessionalRef
    start: dt.date
    end: dt.date | None
    end_reason: str | None
    declared_by: str
    representative_nir: str | None
    consent_at: UtcDatetime

    @classmethod
    def of(cls, row: GpDeclaration) -> DeclarationView:
        return cls.model_validate(row)


class ReferralView(View):
    id: str
    patient_id: str
    referrer: ProfessionalRef
    referrer_is_gp: bool
    target: ProfessionalRef | None
    target_specialty: str
    reason: str | None  # record data: None when the caller may not read it (see ``note``)
    urgency: str
    status: str
    issued_on: dt.date
    report_due_on: dt.date
    covers_until: dt.date
    accepted_on: dt.date | None
    first_visit_on: dt.date | None
    report: str | None
    reported_on: dt.date | None
    note: str | None = None  # why a clinical text is left out

    @classmethod
    def of(cls, row: Referral) -> ReferralView:
        """All of it: callers serve it through ``authz.referral_views``, which applies the record's rules."""
        return cls.model_validate(row)

    def disclosed(self, shown: Disclosure) -> ReferralView:
        update: dict[str, Any] = {"note": shown.note}
        if not shown.request:
            update["reason"] = None
        if not shown.result:
            update["report"] = None
        return self.model_copy(update=update)


class TeleexpertiseView(View):
    id: str
    patient_id: str
    requester: ProfessionalRef
    expert: ProfessionalRef
    question: str | None  # record data: None when the caller may not read it (see ``note``)
    documents: list[dict[str, Any]]
    consent_at: UtcDatetime
    requested_on: dt.date
    answer_due_on: dt.date
    status: str
    priority: str
    answer: str | None
    answered_on: dt.date | None
    expert_claim_id: str | None
    requester_claim_id: str | None
    note: str | None = None  # why a clinical text is left out

    @classmethod
    def of(cls, row: Teleexpertise) -> TeleexpertiseView:
        """All of it: callers serve it through ``authz.teleexpertise_views``, which applies the record's rules."""
        # "expired" is computed: a request left unanswered past its deadline
        return cls.model_validate(row).model_copy(update={"status": status_of(row)})

    def disclosed(self, shown: Disclosure) -> TeleexpertiseView:
        update: dict[str, Any] = {"note": shown.note}
        if not shown.request:
            update["question"], update["documents"] = None, []
        if not shown.result:
            update["answer"] = None
        return self.model_copy(update=update)


class AnswerView(BaseModel):
    teleexpertise: TeleexpertiseView
    sent_to: list[str]


class ClaimView(View):
    id: str
    idempotency_key: str
    patient_id: str
    professional: ProfessionalRef
    care_date: dt.date
    status: str
    version: int
    replaces_id: str | None
    referral_id: str | None
    pathway: str | None
    in_pathway: bool | None
    billed: float
    amo: float
    patient_share: float
    cancel_reason: str | None
    adjudication: dict[str, Any]

    @classmethod
    def of(cls, row: Claim) -> ClaimView:
        view = cls.model_validate(row)
        return view.model_copy(
            update={"billed": row.billed / 100, "amo": row.amo / 100, "patient_share": row.patient_share / 100}
        )


class YearToDateView(BaseModel):
    """A patient's year against the yearly caps; money in euros. The caps are those in force on ``as_of`` (today,
    or the 31 December of a past year)."""

    patient_id: str
    year: int
    as_of: dt.date = Field(description="Date à laquelle les cumuls, les plafonds et les dettes sont lus")
    participation_paid: float = Field(description="Participations forfaitaires retenues dans l'année (€)")
    participation_cap: float | None = Field(description="Plafond annuel des participations forfaitaires (€)")
    franchises_paid: float = Field(description="Franchises médicales retenues dans l'année (€)")
    franchises_cap: float | None = Field(description="Plafond annuel des franchises médicales (€, null avant 2008)")
    psychologist_sessions: int = Field(description="Séances Mon soutien psy prises en charge dans l'année")
    psychologist_sessions_cap: int | None = Field(
        description="Nombre maximal de séances Mon soutien psy par an (null avant le dispositif)"
    )
    participation_owed: float = Field(
        description="Participations non retenues en tiers payant, à récupérer sur un prochain remboursement (€)"
    )
    franchises_owed: float = Field(
        description="Franchises non retenues en tiers payant, à récupérer sur un prochain remboursement (€)"
    )
    teleexpertise_acts: dict[str, int]
    claims_count: int


__all__ = ["PatientView", "ProfessionalView"]
