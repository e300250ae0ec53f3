"""Patients and professionals."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from parcours.api import authz
from parcours.api.deps import Limit, Offset, SessionDep
from parcours.api.schemas import ClaimView, DeclarationView, Page, ReferralView, TeleexpertiseView, YearToDateView
from parcours.api.security import Attestations, CurrentPrincipal
from parcours.care import claims, declarations, people, referrals, teleexpertise
from parcours.care.common import Rpps, get_professional, today
from parcours.care.errors import CareError
from parcours.care.people import CoverageIn, PatientIn, PatientView, ProfessionalIn, ProfessionalView
from parcours.record.access import Action, Resource, ResourceKind
from parcours.record.identity import Role
from parcours.store.models import Professional, Teleconsultation, YearToDateState

router = APIRouter(prefix="/api")


@router.post("/patients", status_code=status.HTTP_201_CREATED, tags=["patients"], summary="Enregistrer un patient")
def create_patient(data: PatientIn, session: SessionDep, principal: CurrentPrincipal) -> PatientView:
    authz.register_patient(session, principal, "patient.create")
    if data.nir_system is not None and principal.role is not Role.ADMINISTRATOR:
        # a test or demo identifier marks a fictitious person: only an administrator loads such data sets
        raise CareError("nir_system", "seul un administrateur enregistre une personne fictive (OID de test ou de démo)",
                        "forbidden")  # fmt: skip
    return PatientView.model_validate(people.create_patient(session, data))


@router.get("/patients", tags=["patients"], summary="Lister les patients")
def list_patients(
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    family_name: str | None = None,
) -> Page[PatientView]:
    """The patients the caller may see: all for agents and administrators, themselves (and the minors they
    represent) for a patient, the patients they treat for a professional."""
    rows, total = people.list_patients(
        session, family_name=family_name, offset=offset, limit=limit,
        restrict=lambda query: authz.visible_patients(query, principal),
    )  # fmt: skip
    return Page(items=[PatientView.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/patients/{patient_id}", tags=["patients"], summary="Lire un patient")
def read_patient(patient_id: str, session: SessionDep, principal: CurrentPrincipal) -> PatientView:
    return PatientView.model_validate(authz.patient_file(session, principal, patient_id, "patient.read"))


@router.put("/patients/{patient_id}/coverage", tags=["patients"], summary="Mettre à jour la couverture")
def update_coverage(patient_id: str, data: CoverageIn, session: SessionDep, principal: CurrentPrincipal) -> PatientView:
    authz.patient_file(session, principal, patient_id, "patient.coverage.update", Action.WRITE)
    return PatientView.model_validate(people.update_coverage(session, patient_id, data))


@router.get("/patients/{patient_id}/gp", tags=["médecin traitant"], summary="Médecin traitant à une date")
def gp_on(
    patient_id: str, session: SessionDep, principal: CurrentPrincipal, on: dt.date | None = None
) -> DeclarationView:
    authz.patient_file(session, principal, patient_id, "patient.gp.read")
    declaration = declarations.declaration_on(session, patient_id, on or today())
    if declaration is None:
        raise CareError("on", "aucun médecin traitant déclaré à cette date", "not_found")
    return DeclarationView.of(declaration)


@router.get("/patients/{patient_id}/declarations", tags=["médecin traitant"], summary="Historique des déclarations")
def declaration_history(patient_id: str, session: SessionDep, principal: CurrentPrincipal) -> list[DeclarationView]:
    authz.patient_file(session, principal, patient_id, "patient.declarations.read")
    return [DeclarationView.of(d) for d in declarations.history(session, patient_id)]


class EndIn(BaseModel):
    end: dt.date | None = None
    reason: declarations.EndReason = "patient_request"


@router.post(
    "/patients/{patient_id}/declarations/end", tags=["médecin traitant"], summary="Mettre fin à la déclaration"
)
def end_declaration(patient_id: str, data: EndIn, session: SessionDep, principal: CurrentPrincipal) -> DeclarationView:
    patient = authz.known_patient(session, principal, patient_id, Resource(ResourceKind.GP_CHOICE), Action.WRITE,
                                  "patient.declaration.end")  # fmt: skip
    current = declarations.active_declaration(session, patient_id)
    authz.check(
        session, principal, patient,
        Resource(ResourceKind.GP_CHOICE, acting_professional=current.professional.rpps if current else None),
        Action.WRITE, "patient.declaration.end", resource_type="GpDeclaration",
        resource_id=current.id if current else None, trace=True,
    )  # fmt: skip
    return DeclarationView.of(declarations.end_declaration(session, patient_id, data.end, data.reason))


class AttestationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    professional_rpps: Rpps = Field(description="RPPS du professionnel devant qui le patient se présente")


class AttestationOut(BaseModel):
    vitale_attestation: str = Field(description="À remettre au professionnel (champ vitale_attestation)")
    patient_id: str
    professional_rpps: str
    signed_by: Literal["patient", "representative"]
    issued_at: dt.datetime
    expires_at: dt.datetime


@router.post(
    "/patients/{patient_id}/vitale-attestations",
    status_code=status.HTTP_201_CREATED,
    tags=["médecin traitant"],
    summary="Attestation de présence du patient (moment carte Vitale) pour un professionnel",
)
def vitale_attestation(
    patient_id: str, data: AttestationIn, session: SessionDep, principal: CurrentPrincipal, attestations: Attestations
) -> AttestationOut:
    """The patient, or a legal representative of a minor, proves that they are with this professional and agree
    to be cared for (declaration of the médecin traitant, first visit): what the carte Vitale (or the appli carte
    Vitale) proves at the desk. Short-lived, bound to the patient and the professional; traced in the patient's
    access history."""
    patient = authz.known_patient(session, principal, patient_id, Resource(ResourceKind.PRESENCE_ATTESTATION),
                                  Action.WRITE, "patient.vitale_attestation.create")  # fmt: skip
    professional = session.scalars(select(Professional).where(Professional.rpps == data.professional_rpps)).first()
    if professional is None:
        raise CareError("professional_rpps", "aucun professionnel enregistré avec ce RPPS", "not_found")
    authz.check(session, principal, patient, Resource(ResourceKind.PRESENCE_ATTESTATION), Action.WRITE,
                "patient.vitale_attestation.create", resource_type="Consent", resource_id=professional.rpps,
                trace=True, detail=f"attestation de présence remise à {professional.given_name} "
                f"{professional.family_name}")  # fmt: skip
    assert principal.nir is not None
    token, attestation = attestations.issue(patient.nir, professional.rpps, principal.nir)
    return AttestationOut(
        vitale_attestation=token,
        patient_id=patient.id,
        professional_rpps=professional.rpps,
        signed_by="patient" if principal.nir == patient.nir else "representative",
        issued_at=attestation.issued_at,
        expires_at=attestation.expires_at,
    )


@router.get("/patients/{patient_id}/referrals", tags=["adressage"], summary="Adressages du patient")
def patient_referrals(
    patient_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    referral_status: Annotated[
        Literal["requested", "accepted", "seen", "closed", "cancelled"] | None, Query(alias="status")
    ] = None,
) -> Page[ReferralView]:
    authz.coordination(session, principal, patient_id, "patient.referrals.read")
    rows, total = referrals.of_patient(session, patient_id, status=referral_status, offset=offset, limit=limit)
    items = authz.referral_views(session, principal, rows, "patient.referrals.read")
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get("/patients/{patient_id}/claims", tags=["feuilles de soins"], summary="Feuilles de soins du patient")
def patient_claims(
    patient_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    claim_status: Annotated[Literal["paid", "rejected", "cancelled", "replaced"] | None, Query(alias="status")] = None,
    date_from: Annotated[dt.date | None, Query(alias="from")] = None,
    date_to: Annotated[dt.date | None, Query(alias="to")] = None,
) -> Page[ClaimView]:
    # a professional sees the claims they billed; the patient, their parents and insurer agents see all
    own = principal.rpps
    try:
        authz.claim(session, principal, patient_id, own, "patient.claims.read")
    except CareError as exc:
        if exc.kind != "not_found" or own is None:
            raise
        # a professional lists the claims they billed: none for a patient they never saw, whether he exists or not
        return Page(items=[], total=0, offset=offset, limit=limit)
    biller = session.scalar(select(Professional.id).where(Professional.rpps == own)) if own else None
    rows, total = claims.list_claims(
        session, patient_id=patient_id, professional_id=biller if own else None, status=claim_status,
        date_from=date_from, date_to=date_to, offset=offset, limit=limit,
    )  # fmt: skip
    return Page(items=[ClaimView.of(c) for c in rows], total=total, offset=offset, limit=limit)


@router.get("/patients/{patient_id}/year-to-date", tags=["feuilles de soins"], summary="Cumuls de l'année")
def year_to_date(
    patient_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    year: Annotated[
        int | None, Query(ge=1900, le=9999, description="Année civile (par défaut l'année en cours)")
    ] = None,
) -> YearToDateView:
    authz.claim(session, principal, patient_id, None, "patient.year_to_date.read")
    on = today()
    year = year or on.year
    row = session.get(YearToDateState, (patient_id, year))
    summary = claims.year_summary(session, patient_id, year, on)
    return YearToDateView(
        patient_id=patient_id,
        year=year,
        as_of=summary.as_of,
        participation_paid=summary.participation / 100,
        participation_cap=None if summary.participation_cap is None else summary.participation_cap / 100,
        franchises_paid=summary.franchises / 100,
        franchises_cap=None if summary.franchises_cap is None else summary.franchises_cap / 100,
        psychologist_sessions=summary.psychologist_sessions,
        psychologist_sessions_cap=summary.psychologist_sessions_cap,
        participation_owed=summary.participation_owed / 100,
        franchises_owed=summary.franchises_owed / 100,
        teleexpertise_acts=dict(row.teleexpertise_acts) if row else {},
        claims_count=row.claims_count if row else 0,
    )


class TeleconsultationView(BaseModel):
    id: str
    professional_id: str
    held_on: dt.date
    video: bool
    oriented_by_gp: bool
    gp_unavailable: bool
    last_in_person_visit: dt.date | None
    claim_id: str | None


@router.get("/patients/{patient_id}/teleconsultations", tags=["téléconsultation"], summary="Téléconsultations")
def teleconsultations(patient_id: str, session: SessionDep, principal: CurrentPrincipal) -> list[TeleconsultationView]:
    patient = authz.coordination(session, principal, patient_id, "patient.teleconsultations.read")
    rows = session.scalars(
        select(Teleconsultation).where(Teleconsultation.patient_id == patient.id).order_by(Teleconsultation.held_on)
    )
    return [TeleconsultationView.model_validate(t, from_attributes=True) for t in rows]


@router.post(
    "/professionals",
    status_code=status.HTTP_201_CREATED,
    tags=["professionnels"],
    summary="Enregistrer un professionnel",
)
def create_professional(data: ProfessionalIn, session: SessionDep, principal: CurrentPrincipal) -> ProfessionalView:
    authz.directory_write(session, principal, "professional.create")
    return ProfessionalView.model_validate(people.create_professional(session, data))


@router.get("/professionals", tags=["professionnels"], summary="Lister les professionnels")
def list_professionals(
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    profession: str | None = None,
    specialty: str | None = None,
    postcode: str | None = None,
) -> Page[ProfessionalView]:
    rows, total = people.list_professionals(
        session, profession=profession, specialty=specialty, postcode=postcode, offset=offset, limit=limit
    )
    return Page(items=[ProfessionalView.model_validate(r) for r in rows], total=total, offset=offset, limit=limit)


@router.get("/professionals/{professional_id}", tags=["professionnels"], summary="Lire un professionnel")
def read_professional(professional_id: str, session: SessionDep, principal: CurrentPrincipal) -> ProfessionalView:
    return ProfessionalView.model_validate(get_professional(session, professional_id))


@router.get("/professionals/{professional_id}/patients", tags=["médecin traitant"], summary="Patients dont il est MT")
def gp_patients(
    professional_id: str, session: SessionDep, principal: CurrentPrincipal, on: dt.date | None = None
) -> list[PatientView]:
    authz.worklist(session, principal, get_professional(session, professional_id), "professional.patients.read")
    return [PatientView.model_validate(p) for p in declarations.patients_of(session, professional_id, on)]


class RetirementIn(BaseModel):
    on: dt.date | None = None
    reason: declarations.EndReason = "retirement"


@router.post(
    "/professionals/{professional_id}/gp-end",
    tags=["médecin traitant"],
    summary="Cesser d'être médecin traitant (retraite…) ; liste des patients concernés",
)
def stop_being_gp(
    professional_id: str, data: RetirementIn, session: SessionDep, principal: CurrentPrincipal
) -> list[PatientView]:
    decision = authz.worklist(session, principal, get_professional(session, professional_id), "professional.gp_end",
                              Action.WRITE)  # fmt: skip
    patients = declarations.retire(session, professional_id, data.on, data.reason)
    authz.trace_for_patients(session, principal, decision, patients, "patient.declaration.end",
                             resource_type="GpDeclaration", detail=f"fin de la déclaration : {declarations.END_REASON_LABELS[data.reason]}")  # fmt: skip
    return [PatientView.model_validate(p) for p in patients]


@router.get("/professionals/{professional_id}/referrals", tags=["adressage"], summary="Adressages reçus ou émis")
def professional_referrals(
    professional_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    role: Literal["target", "referrer"] = "target",
    referral_status: Annotated[
        Literal["requested", "accepted", "seen", "closed", "cancelled"] | None, Query(alias="status")
    ] = None,
) -> Page[ReferralView]:
    authz.worklist(session, principal, get_professional(session, professional_id), "professional.referrals.read")
    rows, total = referrals.for_professional(
        session, professional_id, role=role, status=referral_status, offset=offset, limit=limit
    )
    items = authz.referral_views(session, principal, rows, "professional.referrals.read")
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get(
    "/professionals/{professional_id}/referrals/overdue",
    tags=["adressage"],
    summary="Adressages des patients du médecin traitant restés sans compte rendu",
)
def overdue_referrals(
    professional_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    on: dt.date | None = None,
) -> Page[ReferralView]:
    authz.worklist(session, principal, get_professional(session, professional_id), "professional.overdue.read")
    rows, total = referrals.overdue_for_gp(session, professional_id, on, offset=offset, limit=limit)
    items = authz.referral_views(session, principal, rows, "professional.overdue.read")
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get("/professionals/{professional_id}/teleexpertises", tags=["téléexpertise"], summary="Téléexpertises")
def professional_teleexpertises(
    professional_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    role: Literal["expert", "requester"] = "expert",
    te_status: Annotated[Literal["requested", "answered", "cancelled", "expired"] | None, Query(alias="status")] = None,
) -> Page[TeleexpertiseView]:
    authz.worklist(session, principal, get_professional(session, professional_id), "professional.teleexpertises.read")
    rows, total = teleexpertise.for_professional(
        session, professional_id, role=role, status=te_status, offset=offset, limit=limit
    )
    items = authz.teleexpertise_views(session, principal, rows, "professional.teleexpertises.read")
    return Page(items=items, total=total, offset=offset, limit=limit)
