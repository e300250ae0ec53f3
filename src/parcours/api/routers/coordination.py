"""Médecin traitant declarations, referrals (adressage), téléexpertise and claims (feuilles de soins)."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.api import authz
from parcours.api.deps import DatabaseDep, Limit, Offset, SessionDep
from parcours.api.schemas import AnswerView, ClaimView, DeclarationView, Page, ReferralView, TeleexpertiseView
from parcours.api.security import Attestations, CurrentPrincipal, PresenceAttestation
from parcours.care import claims, declarations, referrals, teleexpertise
from parcours.care.claims import ClaimIn, CorrectionIn
from parcours.care.common import Rpps, get_professional, today
from parcours.care.declarations import DeclarationIn
from parcours.care.errors import CareError
from parcours.care.referrals import ReferralIn, ReportIn
from parcours.care.teleexpertise import AnswerIn, TeleexpertiseIn
from parcours.care.teleexpertise import CancelIn as TeleexpertiseCancelIn
from parcours.record.access import Action, ResourceKind
from parcours.record.facts import is_minor
from parcours.record.identity import Principal
from parcours.store.models import Claim, Professional, Referral

router = APIRouter(prefix="/api")

ATTESTATION_HELP = (
    "Attestation de présence du patient (moment carte Vitale), obtenue par le patient ou son représentant légal "
    "(POST /api/patients/{id}/vitale-attestations) pour ce professionnel"
)


class DeclarationRequest(DeclarationIn):
    vitale_attestation: str | None = Field(default=None, description=ATTESTATION_HELP + " ; obligatoire")
    consent_at: dt.datetime | None = Field(  # type: ignore[assignment]
        default=None,
        description="Consentement du patient : le moment de l'attestation de présence par défaut ; antérieur "
        "seulement pour un formulaire papier signé plus tôt",
    )

    def declaration(self, attestation: PresenceAttestation, *, minor: bool) -> DeclarationIn:
        """The declaration as the service takes it: consent at the carte Vitale moment (or the earlier signature of
        a paper form); a minor is declared by the legal representative who attested, never by a NIR typed in."""
        fields = self.model_dump(exclude={"vitale_attestation"})
        if self.consent_at is None or self.consent_at > attestation.issued_at:
            fields["consent_at"] = attestation.issued_at
        if minor:
            if attestation.signer_nir == attestation.patient_nir:
                raise CareError("vitale_attestation", "un mineur est déclaré par son représentant légal : "
                                "l'attestation de présence doit venir de lui", "forbidden")  # fmt: skip
            if fields.get("representative_nir") not in (None, attestation.signer_nir):
                raise CareError("representative_nir", "le représentant déclarant doit être celui qui a attesté "
                                "la présence du patient (vitale_attestation)", "forbidden")  # fmt: skip
            fields["representative_nir"] = attestation.signer_nir
        return DeclarationIn.model_validate(fields)


class ReferralRequest(ReferralIn):
    vitale_attestation: str | None = Field(default=None, description=ATTESTATION_HELP + " ; hors équipe de soins")


class TeleexpertiseRequest(TeleexpertiseIn):
    vitale_attestation: str | None = Field(default=None, description=ATTESTATION_HELP + " ; hors équipe de soins")


class ClaimRequest(ClaimIn):
    vitale_attestation: str | None = Field(default=None, description=ATTESTATION_HELP + " ; hors équipe de soins")


In = TypeVar("In", bound=BaseModel)


def without_attestation(model: type[In], data: BaseModel) -> In:
    return model.model_validate(data.model_dump(exclude={"vitale_attestation"}))


@router.post(
    "/declarations",
    status_code=status.HTTP_201_CREATED,
    tags=["médecin traitant"],
    summary="Déclarer un médecin traitant (avec le consentement du patient)",
)
def declare(
    data: DeclarationRequest, session: SessionDep, principal: CurrentPrincipal, attestations: Attestations
) -> DeclarationView:
    # the doctor declares with the patient's carte Vitale in hand: the patient's presence attestation proves it
    patient, proof = authz.creating(session, principal, data.patient_id, ResourceKind.GP_DECLARATION,
                              data.professional_rpps, "declaration.create", attestations=attestations,
                              attestation=data.vitale_attestation, resource_type="GpDeclaration", trace=True)  # fmt: skip
    assert proof.attestation is not None
    minor = is_minor(patient, data.start or today())
    return DeclarationView.of(declarations.declare(session, data.declaration(proof.attestation, minor=minor)))


@router.post("/referrals", status_code=status.HTTP_201_CREATED, tags=["adressage"], summary="Adresser un patient")
def refer(
    data: ReferralRequest, session: SessionDep, principal: CurrentPrincipal, attestations: Attestations
) -> ReferralView:
    authz.creating(session, principal, data.patient_id, ResourceKind.CARE_COORDINATION, data.referrer_rpps,
                   "referral.create", attestations=attestations, attestation=data.vitale_attestation,
                   resource_type="ServiceRequest")  # fmt: skip
    created = referrals.refer(session, without_attestation(ReferralIn, data))
    return authz.referral_view(session, principal, created, "referral.create")


@router.get("/referrals/{referral_id}", tags=["adressage"], summary="Lire un adressage")
def read_referral(referral_id: str, session: SessionDep, principal: CurrentPrincipal) -> ReferralView:
    referral = referrals.get_referral(session, referral_id)
    _referral_access(session, principal, referral, "referral.read")
    return authz.referral_view(session, principal, referral, "referral.read")


def _referral_access(session: Session, principal: Principal, referral: Referral, operation: str,
                     acting: str | None = None) -> None:  # fmt: skip
    """Read by the patient, the care team and the two doctors named; a specialty-addressed referral also by the
    specialists of that specialty, who may take it."""
    participants = {referral.referrer.rpps, referral.target.rpps if referral.target else None}
    if referral.target is None and principal.rpps is not None:
        me = session.scalars(select(Professional).where(Professional.rpps == principal.rpps)).one_or_none()
        if me is not None and me.specialty == referral.target_specialty:
            participants.add(me.rpps)
    authz.coordination(session, principal, referral.patient_id, operation,
                       action=Action.WRITE if acting else Action.READ, acting=acting, participants=participants,
                       resource_type="ServiceRequest", resource_id=referral.id)  # fmt: skip


class ActingProfessional(BaseModel):
    professional_rpps: Rpps


class AcceptIn(ActingProfessional):
    on: dt.date | None = Field(default=None, description="Date d'acceptation (aujourd'hui par défaut)")


@router.post("/referrals/{referral_id}/accept", tags=["adressage"], summary="Accepter un adressage")
def accept_referral(referral_id: str, data: AcceptIn, session: SessionDep, principal: CurrentPrincipal) -> ReferralView:
    _referral_access(session, principal, referrals.get_referral(session, referral_id), "referral.accept",
                     acting=data.professional_rpps)  # fmt: skip
    accepted = referrals.accept(session, referral_id, data.professional_rpps, data.on)
    return authz.referral_view(session, principal, accepted, "referral.accept")


@router.post("/referrals/{referral_id}/report", tags=["adressage"], summary="Envoyer le compte rendu (clôt la boucle)")
def report_referral(referral_id: str, data: ReportIn, session: SessionDep, principal: CurrentPrincipal) -> ReferralView:
    _referral_access(session, principal, referrals.get_referral(session, referral_id), "referral.report",
                     acting=data.professional_rpps)  # fmt: skip
    return authz.referral_view(session, principal, referrals.report(session, referral_id, data), "referral.report")


@router.post("/referrals/{referral_id}/cancel", tags=["adressage"], summary="Annuler un adressage")
def cancel_referral(
    referral_id: str, data: ActingProfessional, session: SessionDep, principal: CurrentPrincipal
) -> ReferralView:
    _referral_access(session, principal, referrals.get_referral(session, referral_id), "referral.cancel",
                     acting=data.professional_rpps)  # fmt: skip
    cancelled = referrals.cancel(session, referral_id, data.professional_rpps)
    return authz.referral_view(session, principal, cancelled, "referral.cancel")


@router.post(
    "/teleexpertises", status_code=status.HTTP_201_CREATED, tags=["téléexpertise"], summary="Demander une téléexpertise"
)
def request_teleexpertise(
    data: TeleexpertiseRequest, session: SessionDep, principal: CurrentPrincipal, attestations: Attestations
) -> TeleexpertiseView:
    authz.creating(session, principal, data.patient_id, ResourceKind.CARE_COORDINATION, data.requester_rpps,
                   "teleexpertise.create", attestations=attestations, attestation=data.vitale_attestation,
                   resource_type="ServiceRequest", participants=(data.expert_rpps,))  # fmt: skip
    asked = teleexpertise.request(session, without_attestation(TeleexpertiseIn, data))
    return authz.teleexpertise_view(session, principal, asked, "teleexpertise.create")


@router.get("/teleexpertises/{teleexpertise_id}", tags=["téléexpertise"], summary="Lire une téléexpertise")
def read_teleexpertise(teleexpertise_id: str, session: SessionDep, principal: CurrentPrincipal) -> TeleexpertiseView:
    item = teleexpertise.get(session, teleexpertise_id)
    authz.coordination(session, principal, item.patient_id, "teleexpertise.read",
                       participants=(item.requester.rpps, item.expert.rpps), resource_type="ServiceRequest",
                       resource_id=item.id)  # fmt: skip
    return authz.teleexpertise_view(session, principal, item, "teleexpertise.read")


@router.post(
    "/teleexpertises/{teleexpertise_id}/answer",
    tags=["téléexpertise"],
    summary="Répondre (facture TE2 et RQD ; réponse transmise au requérant et au médecin traitant)",
)
def answer_teleexpertise(
    teleexpertise_id: str, data: AnswerIn, session: SessionDep, principal: CurrentPrincipal
) -> AnswerView:
    asked = teleexpertise.get(session, teleexpertise_id)
    # only the expert asked answers: the caller must be the expert named in the answer and in the request
    authz.coordination(session, principal, asked.patient_id, "teleexpertise.answer", action=Action.WRITE,
                       acting=data.expert_rpps, participants=(asked.expert.rpps,), resource_type="ServiceRequest",
                       resource_id=asked.id)  # fmt: skip
    item, delivery = teleexpertise.answer(session, teleexpertise_id, data)
    recipients = [delivery.requester_rpps] + ([delivery.gp_rpps] if delivery.gp_rpps else [])
    answered = authz.teleexpertise_view(session, principal, item, "teleexpertise.answer")
    return AnswerView(teleexpertise=answered, sent_to=list(dict.fromkeys(recipients)))


@router.post(
    "/teleexpertises/{teleexpertise_id}/cancel", tags=["téléexpertise"], summary="Annuler sa demande (requérant)"
)
def cancel_teleexpertise(
    teleexpertise_id: str, data: TeleexpertiseCancelIn, session: SessionDep, principal: CurrentPrincipal
) -> TeleexpertiseView:
    asked = teleexpertise.get(session, teleexpertise_id)
    authz.coordination(session, principal, asked.patient_id, "teleexpertise.cancel", action=Action.WRITE,
                       acting=data.requester_rpps, participants=(asked.requester.rpps,),
                       resource_type="ServiceRequest", resource_id=asked.id)  # fmt: skip
    cancelled = teleexpertise.cancel(session, teleexpertise_id, data)
    return authz.teleexpertise_view(session, principal, cancelled, "teleexpertise.cancel")


@router.get(
    "/professionals/{professional_id}/teleexpertises/overdue",
    tags=["téléexpertise"],
    summary="Téléexpertises restées sans réponse dans le délai (demandées par lui ou concernant ses patients)",
)
def overdue_teleexpertises(
    professional_id: str, session: SessionDep, principal: CurrentPrincipal, offset: Offset = 0, limit: Limit = 50
) -> Page[TeleexpertiseView]:
    authz.worklist(session, principal, get_professional(session, professional_id), "professional.te_overdue.read")
    rows, total = teleexpertise.overdue_for(session, professional_id, offset=offset, limit=limit)
    items = authz.teleexpertise_views(session, principal, rows, "professional.te_overdue.read")
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.post(
    "/claims",
    status_code=status.HTTP_201_CREATED,
    response_model=ClaimView,
    tags=["feuilles de soins"],
    summary="Transmettre une feuille de soins (liquidée à la réception ; idempotente)",
    responses={200: {"description": "Même clé d'idempotence et même contenu : la décision déjà rendue"}},
)
def submit_claim(
    data: ClaimRequest, database: DatabaseDep, principal: CurrentPrincipal, attestations: Attestations
) -> Response:
    # the unit of work of ``SessionDep``, but begun and committed in this handler's worker thread: one hop to a
    # thread per claim rather than two (a hop costs a tenth of a claim's CPU)
    with database.unit_of_work() as session:
        # the patient's row is locked by the access check itself: the claim reads it once (caps are consumed one
        # claim at a time, see claims.submit)
        patient, _ = authz.creating(session, principal, data.patient_id, ResourceKind.CLAIM, data.professional_rpps,
                                    "claim.create", attestations=attestations, attestation=data.vitale_attestation,
                                    resource_type="Claim", participants=(data.professional_rpps,), lock=True)  # fmt: skip
        claim, created = claims.submit(session, without_attestation(ClaimIn, data), locked=patient)
        # the view serialised once, here (a returned model is dumped, validated again and serialised by FastAPI: the
        # adjudication and its explanation three times)
        answer = ClaimView.of(claim).model_dump_json()
    return Response(answer, media_type="application/json",
                    status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK)  # fmt: skip


@router.get("/claims/{claim_id}", tags=["feuilles de soins"], summary="Lire une feuille de soins et sa décision")
def read_claim(claim_id: str, session: SessionDep, principal: CurrentPrincipal) -> ClaimView:
    return ClaimView.of(_claim_access(session, principal, claim_id, "claim.read"))


def _claim_access(session: Session, principal: Principal, claim_id: str, operation: str,
                  action: Action = Action.READ) -> Claim:  # fmt: skip
    claim = claims.get_claim(session, claim_id)
    authz.claim(session, principal, claim.patient_id, claim.professional.rpps, operation, action=action,
                resource_id=claim.id)  # fmt: skip
    return claim


class CancelIn(BaseModel):
    reason: str = Field(min_length=3, max_length=1000)


@router.post("/claims/{claim_id}/cancel", tags=["feuilles de soins"], summary="Annuler une feuille de soins")
def cancel_claim(claim_id: str, data: CancelIn, session: SessionDep, principal: CurrentPrincipal) -> ClaimView:
    _claim_access(session, principal, claim_id, "claim.cancel", Action.WRITE)
    return ClaimView.of(claims.cancel(session, claim_id, data.reason))


@router.post(
    "/claims/{claim_id}/corrections",
    status_code=status.HTTP_201_CREATED,
    tags=["feuilles de soins"],
    summary="Corriger une feuille de soins (nouvelle version ; l'ancienne est conservée)",
)
def correct_claim(
    claim_id: str, data: CorrectionIn, session: SessionDep, response: Response, principal: CurrentPrincipal
) -> ClaimView:
    _claim_access(session, principal, claim_id, "claim.correct", Action.WRITE)
    claim, created = claims.correct(session, claim_id, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return ClaimView.of(claim)


@router.get("/claims/{claim_id}/history", tags=["feuilles de soins"], summary="Versions successives")
def claim_history(claim_id: str, session: SessionDep, principal: CurrentPrincipal) -> list[ClaimView]:
    _claim_access(session, principal, claim_id, "claim.history.read")
    return [ClaimView.of(c) for c in claims.history(session, claim_id)]
