"""Médecin traitant declarations, referrals (adressage), téléexpertise and claims (feuilles de soins)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from parcours.api.deps import SessionDep
from parcours.api.schemas import AnswerView, ClaimView, DeclarationView, ReferralView, TeleexpertiseView
from parcours.care import claims, declarations, referrals, teleexpertise
from parcours.care.claims import ClaimIn, CorrectionIn
from parcours.care.common import Rpps
from parcours.care.declarations import DeclarationIn
from parcours.care.referrals import ReferralIn, ReportIn
from parcours.care.teleexpertise import AnswerIn, TeleexpertiseIn

router = APIRouter(prefix="/api")


@router.post(
    "/declarations",
    status_code=status.HTTP_201_CREATED,
    tags=["médecin traitant"],
    summary="Déclarer un médecin traitant (avec le consentement du patient)",
)
def declare(data: DeclarationIn, session: SessionDep) -> DeclarationView:
    return DeclarationView.of(declarations.declare(session, data))


@router.post("/referrals", status_code=status.HTTP_201_CREATED, tags=["adressage"], summary="Adresser un patient")
def refer(data: ReferralIn, session: SessionDep) -> ReferralView:
    return ReferralView.of(referrals.refer(session, data))


@router.get("/referrals/{referral_id}", tags=["adressage"], summary="Lire un adressage")
def read_referral(referral_id: str, session: SessionDep) -> ReferralView:
    return ReferralView.of(referrals.get_referral(session, referral_id))


class ActingProfessional(BaseModel):
    professional_rpps: Rpps


@router.post("/referrals/{referral_id}/accept", tags=["adressage"], summary="Accepter un adressage")
def accept_referral(referral_id: str, data: ActingProfessional, session: SessionDep) -> ReferralView:
    return ReferralView.of(referrals.accept(session, referral_id, data.professional_rpps))


@router.post("/referrals/{referral_id}/report", tags=["adressage"], summary="Envoyer le compte rendu (clôt la boucle)")
def report_referral(referral_id: str, data: ReportIn, session: SessionDep) -> ReferralView:
    return ReferralView.of(referrals.report(session, referral_id, data))


@router.post("/referrals/{referral_id}/cancel", tags=["adressage"], summary="Annuler un adressage")
def cancel_referral(referral_id: str, data: ActingProfessional, session: SessionDep) -> ReferralView:
    return ReferralView.of(referrals.cancel(session, referral_id, data.professional_rpps))


@router.post(
    "/teleexpertises", status_code=status.HTTP_201_CREATED, tags=["téléexpertise"], summary="Demander une téléexpertise"
)
def request_teleexpertise(data: TeleexpertiseIn, session: SessionDep) -> TeleexpertiseView:
    return TeleexpertiseView.of(teleexpertise.request(session, data))


@router.get("/teleexpertises/{teleexpertise_id}", tags=["téléexpertise"], summary="Lire une téléexpertise")
def read_teleexpertise(teleexpertise_id: str, session: SessionDep) -> TeleexpertiseView:
    return TeleexpertiseView.of(teleexpertise.get(session, teleexpertise_id))


@router.post(
    "/teleexpertises/{teleexpertise_id}/answer",
    tags=["téléexpertise"],
    summary="Répondre (facture TE2 et RQD ; réponse transmise au requérant et au médecin traitant)",
)
def answer_teleexpertise(teleexpertise_id: str, data: AnswerIn, session: SessionDep) -> AnswerView:
    item, delivery = teleexpertise.answer(session, teleexpertise_id, data)
    recipients = [delivery.requester_rpps] + ([delivery.gp_rpps] if delivery.gp_rpps else [])
    return AnswerView(teleexpertise=TeleexpertiseView.of(item), sent_to=list(dict.fromkeys(recipients)))


@router.post(
    "/claims",
    status_code=status.HTTP_201_CREATED,
    tags=["feuilles de soins"],
    summary="Transmettre une feuille de soins (liquidée à la réception ; idempotente)",
    responses={200: {"description": "Même clé d'idempotence et même contenu : la décision déjà rendue"}},
)
def submit_claim(data: ClaimIn, session: SessionDep, response: Response) -> ClaimView:
    claim, created = claims.submit(session, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return ClaimView.of(claim)


@router.get("/claims/{claim_id}", tags=["feuilles de soins"], summary="Lire une feuille de soins et sa décision")
def read_claim(claim_id: str, session: SessionDep) -> ClaimView:
    return ClaimView.of(claims.get_claim(session, claim_id))


class CancelIn(BaseModel):
    reason: str = Field(min_length=3, max_length=1000)


@router.post("/claims/{claim_id}/cancel", tags=["feuilles de soins"], summary="Annuler une feuille de soins")
def cancel_claim(claim_id: str, data: CancelIn, session: SessionDep) -> ClaimView:
    return ClaimView.of(claims.cancel(session, claim_id, data.reason))


@router.post(
    "/claims/{claim_id}/corrections",
    status_code=status.HTTP_201_CREATED,
    tags=["feuilles de soins"],
    summary="Corriger une feuille de soins (nouvelle version ; l'ancienne est conservée)",
)
def correct_claim(claim_id: str, data: CorrectionIn, session: SessionDep, response: Response) -> ClaimView:
    claim, created = claims.correct(session, claim_id, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return ClaimView.of(claim)


@router.get("/claims/{claim_id}/history", tags=["feuilles de soins"], summary="Versions successives")
def claim_history(claim_id: str, session: SessionDep) -> list[ClaimView]:
    return [ClaimView.of(c) for c in claims.history(session, claim_id)]
