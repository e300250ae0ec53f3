"""The professional space: my patients (patientèle médecin traitant) and becoming or ceasing to be their MT; the
referrals I sent and received, their acceptance and report; téléexpertise asked and answered, with the expert's
inbox by priority and deadline; a patient's record as the access decision allows, with bris de glace and the MT's
coherence flags; the feuille de soins with its amounts computed before it is sent, then corrected or cancelled.

Every page asks the same access decisions as the API (``api.authz``, ``record.service``) and acts in the signed-in
professional's own name (the RPPS of the session, never one typed in). A refusal caught to be shown inside a page
(the record of a patient, a form) is traced in a transaction of its own, as the API's error handler does.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from parcours.api import authz
from parcours.api.deps import SessionDep
from parcours.api.routers.coordination import DeclarationRequest
from parcours.api.security import PresenceAttestations
from parcours.care import claims, declarations, people, referrals, teleexpertise
from parcours.care.common import law, patient_by_nir, professional_by_rpps, today
from parcours.care.errors import CareError
from parcours.errors import FieldError, field_errors
from parcours.record import service as record
from parcours.record.access import Action, Basis, Resource, ResourceKind
from parcours.record.facts import is_minor
from parcours.record.guard import AccessDeniedError, Caller, record_refusal
from parcours.record.identity import Principal, Role
from parcours.rules.catalogue import Profession
from parcours.rules.event import Specialty
from parcours.store.models import Claim, Patient, Professional, Referral, Teleexpertise
from parcours.web import session
from parcours.web.spaces import documents, labels
from parcours.web.spaces.base import Space, form_errors, person, redirect, register, render, templates, text_field

router = APIRouter(prefix="/espace/pro", include_in_schema=False)
SPACE = register(
    Space(
        key="pro",
        title="Espace professionnel",
        home="/espace/pro",
        roles=(Role.PROFESSIONAL,),
        nav=(
            ("/espace/pro", "Accueil"),
            ("/espace/pro/patients", "Mes patients"),
            ("/espace/pro/adressages", "Adressages"),
            ("/espace/pro/teleexpertises", "Téléexpertise"),
            ("/espace/pro/feuilles", "Feuilles de soins"),
            ("/espace/pro/urgence", "Accès en urgence"),
        ),
    ),
    notices={
        "pro-declared": "Vous êtes désormais le médecin traitant de ce patient.",
        "pro-ended": "La déclaration de médecin traitant a pris fin.",
        "pro-referred": "Adressage envoyé.",
        "pro-accepted": "Adressage accepté.",
        "pro-reported": "Compte rendu envoyé : la boucle est close, il est déposé dans le dossier du patient.",
        "pro-referral-cancelled": "Adressage annulé.",
        "pro-te-asked": "Demande de téléexpertise envoyée.",
        "pro-te-answered": "Réponse envoyée au requérant et au médecin traitant ; TE2 et RQD facturés.",
        "pro-claim-sent": "Feuille de soins transmise.",
        "pro-claim-corrected": "Feuille de soins corrigée : la nouvelle version remplace l'ancienne.",
        "pro-claim-cancelled": "Feuille de soins annulée.",
        "pro-emergency": "Accès en urgence ouvert : il est tracé et visible du patient.",
    },
)
Me = Annotated[Principal, person(Role.PROFESSIONAL)]
Form = Annotated[FormData, Depends(session.checked_form)]

END_REASONS = {k: v for k, v in declarations.END_REASON_LABELS.items() if k != "replaced"}
CLAIM_STATUS = {"paid": "payée", "rejected": "rejetée", "cancelled": "annulée", "replaced": "remplacée"}
TE_STATUS = {"requested": "en attente de réponse", "answered": "répondue", "cancelled": "annulée",
             "expired": "délai dépassé sans réponse"}  # fmt: skip
ACT_ROWS = 3
LABELS = {
    "nir": "NIR du patient",
    "vitale_attestation": "Attestation de présence",
    "start": "Date d'effet",
    "patient_id": "Patient",
    "target_rpps": "Médecin correspondant",
    "target_specialty": "Spécialité",
    "reason": "Motif",
    "urgency": "Urgence",
    "report": "Compte rendu",
    "expert_rpps": "Médecin requis",
    "question": "Question",
    "consent": "Consentement du patient",
    "answer": "Réponse",
    "date": "Date des soins",
    "acts": "Actes",
    "document_title": "Titre du document",
    "document_text": "Contenu du document",
    "end_reason": "Motif de fin",
    "priority": "Priorité",
}


def _name(who: Patient | Professional | None) -> str:
    return "" if who is None else f"{who.given_name} {who.family_name}"


templates.env.filters["name"] = _name


def _me(db: Session, me: Principal) -> Professional:
    assert me.rpps is not None
    return professional_by_rpps(db, me.rpps, "professional_rpps")


def _traced_refusal(request: Request, denied: AccessDeniedError) -> None:
    """A refusal shown inside a page: written in a transaction of its own (the request's may still commit)."""
    with request.app.state.database.unit_of_work() as db:
        record_refusal(db, denied)


def _attestations(request: Request) -> PresenceAttestations:
    found: PresenceAttestations = request.app.state.presence_attestations
    return found


def _page(request: Request, template: str, context: Mapping[str, Any], status_code: int = 200) -> Response:
    return render(request, template, context, space=SPACE, status_code=status_code)


def _problems(exc: ValidationError | CareError) -> list[FieldError | CareError]:
    return [*field_errors(exc)] if isinstance(exc, ValidationError) else [exc]


def _errors(errors: list[FieldError | CareError]) -> dict[str, Any]:
    return form_errors(errors, LABELS)


def _my_patients(db: Session, me: Principal) -> list[Patient]:
    """Everyone the professional treats (MT, referrals, téléexpertises, claims, non-oppositions): the API's
    ``visible_patients``."""
    rows, _ = people.list_patients(db, restrict=lambda query: authz.visible_patients(query, me), limit=200)
    return rows


def _doctors(db: Session, me: Professional) -> list[Professional]:
    rows, _ = people.list_professionals(db, profession=Profession.PHYSICIAN.value, limit=200)
    return [p for p in rows if p.id != me.id and p.active]


def _experts(db: Session, me: Professional) -> list[Professional]:
    rows, _ = people.list_professionals(db, limit=200)
    return [p for p in rows if p.id != me.id and p.active and p.profession in teleexpertise.EXPERT_PROFESSIONS]


# --- home ---------------------------------------------------------------------------------------------------------


@router.get("")
def home(request: Request, me: Me, db: SessionDep) -> Response:
    pro = _me(db, me)
    authz.worklist(db, me, pro, "professional.space.read")
    _, total = declarations.search_patients_of(db, pro.id, limit=1)
    sent = referrals.sent_and_received(db, pro.id, "referrer")
    received = referrals.sent_and_received(db, pro.id, "target")
    _, overdue_total = referrals.overdue_for_gp(db, pro.id, limit=1)
    inbox = teleexpertise.inbox(db, pro.id)
    recent, _ = claims.list_claims(db, professional_id=pro.id, limit=5)
    return _page(request, "pro/accueil.html", {
        "pro": pro, "patients_total": total, "sent_overdue": sum(1 for _, late in sent if late),
        "received": len(received), "overdue_of_mine": overdue_total, "inbox": len(inbox), "recent": recent,
        "claim_status": CLAIM_STATUS,
    })  # fmt: skip


# --- my patients --------------------------------------------------------------------------------------------------


@router.get("/patients")
def patients(request: Request, me: Me, db: SessionDep, q: str | None = None) -> Response:
    pro = _me(db, me)
    authz.worklist(db, me, pro, "professional.patients.read")
    rows, total = declarations.search_patients_of(db, pro.id, q, limit=100)
    others = [p for p in _my_patients(db, me) if p.id not in {row[0].id for row in rows}] if not q else []
    return _page(request, "pro/patients.html", {"rows": rows, "total": total, "q": q or "", "others": others,
                                                "end_reasons": END_REASONS, "pro": pro})  # fmt: skip


@router.get("/patients/declarer")
def declare_page(request: Request, me: Me) -> Response:
    return _page(request, "pro/declarer.html", {"values": {}})


@router.post("/patients/declarer")
def declare(request: Request, me: Me, db: SessionDep, form: Form) -> Response:
    values = {k: text_field(form, k) for k in ("nir", "vitale_attestation", "start")}
    assert me.rpps is not None
    try:
        nir = (values["nir"] or "").replace(" ", "")
        patient = patient_by_nir(db, nir) if nir else None
        if patient is None:
            raise CareError("nir", "aucun patient enregistré avec ce NIR" if nir else "indiquer le NIR du patient")
        if not values["vitale_attestation"]:
            raise CareError("vitale_attestation", "collez l'attestation de présence remise par le patient")
        data = DeclarationRequest.model_validate({"patient_id": patient.id, "professional_rpps": me.rpps,
                                                  "start": values["start"],
                                                  "vitale_attestation": values["vitale_attestation"]})  # fmt: skip
        found, proof = authz.creating(db, me, patient.id, ResourceKind.GP_DECLARATION, me.rpps, "declaration.create",
                                      attestations=_attestations(request), attestation=data.vitale_attestation,
                                      resource_type="GpDeclaration", trace=True)  # fmt: skip
        assert proof.attestation is not None
        declarations.declare(db, data.declaration(proof.attestation, minor=is_minor(found, data.start or today())))
    except ValidationError as exc:
        return _page(request, "pro/declarer.html", {"values": values, **_errors(list(field_errors(exc)))}, 422)
    except CareError as exc:
        return _page(request, "pro/declarer.html", {"values": values, **_errors([exc])}, 422)
    except AccessDeniedError as denied:
        _traced_refusal(request, denied)
        error = CareError("vitale_attestation", denied.message)
        return _page(request, "pro/declarer.html", {"values": values, **_errors([error])}, 403)
    return redirect("/espace/pro/patients", notice="pro-declared")


@router.post("/patients/{patient_id}/fin")
def end(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    reason = text_field(form, "end_reason") or "patient_request"
    if reason not in END_REASONS:
        raise CareError("end_reason", "motif de fin inconnu")
    patient = authz.known_patient(db, me, patient_id, Resource(ResourceKind.GP_CHOICE), Action.WRITE,
                                  "patient.declaration.end")  # fmt: skip
    current = declarations.active_declaration(db, patient.id)
    authz.check(db, me, patient,
                Resource(ResourceKind.GP_CHOICE, acting_professional=current.professional.rpps if current else None),
                Action.WRITE, "patient.declaration.end", resource_type="GpDeclaration",
                resource_id=current.id if current else None, trace=True,
                detail=f"fin de la déclaration : {END_REASONS[reason]}")  # fmt: skip
    declarations.end_declaration(db, patient.id, None, reason)  # type: ignore[arg-type]
    return redirect("/espace/pro/patients", notice="pro-ended")


# --- a patient's record -------------------------------------------------------------------------------------------


def _refusal_page(request: Request, denied: AccessDeniedError, patient_id: str) -> Response:
    _traced_refusal(request, denied)
    emergency = denied.decision.basis is Basis.NOT_IN_CARE_TEAM
    return _page(request, "pro/refus.html", {"message": denied.message, "emergency": emergency,
                                             "patient_id": patient_id, "values": {}}, 403)  # fmt: skip


@router.get("/patients/{patient_id}")
def patient_record(request: Request, patient_id: str, me: Me, db: SessionDep) -> Response:
    try:
        patient = authz.patient_file(db, me, patient_id, "patient.read")
    except AccessDeniedError as denied:
        return _refusal_page(request, denied, patient_id)
    caller = Caller.of(db, me)
    gp = declarations.gp_on(db, patient.id, today())
    is_gp = gp is not None and gp.rpps == me.rpps
    entries: list[record.EntryView] = []
    refused: str | None = None
    flags: list[Any] = []
    try:
        entries, _ = record.search_entries(caller, patient, limit=200, operation="record.entries.search")
        if is_gp:
            flags = record.coherence(caller, patient)
    except AccessDeniedError as denied:
        _traced_refusal(request, denied)
        refused = denied.message
    facts = caller.facts(patient)
    emergency = facts.emergency_accesses.get(me.identifier) if not is_gp else None
    rows, _ = referrals.of_patient(db, patient.id, limit=100)
    shown = authz.referral_views(db, me, rows, "patient.referrals.read") if refused is None else []
    mine, _ = claims.list_claims(db, patient_id=patient.id, professional_id=_me(db, me).id, limit=20)
    document_views = [(view, documents.attachment_of(view.entry.resource)
                       if view.entry.resource_type == "DocumentReference" else None) for view in entries]  # fmt: skip
    flagged = {entry for flag in flags for entry in flag.entries}
    return _page(request, "pro/dossier.html", {
        "patient": patient, "gp": gp, "is_gp": is_gp, "documents": document_views, "refused": refused, "flags": flags,
        "flagged": flagged, "emergency": emergency, "referrals": shown, "claims": mine, "claim_status": CLAIM_STATUS,
        "status_fr": referrals.STATUS_LABELS,
    })  # fmt: skip


@router.get("/patients/{patient_id}/documents/{entry_id}/fichier")
def patient_document_file(request: Request, patient_id: str, entry_id: str, me: Me, db: SessionDep) -> Response:
    """A document's file, as the access decision allows (the read is traced like any record read)."""
    try:
        patient = authz.patient_file(db, me, patient_id, "patient.read")
        view = record.read_entry(Caller.of(db, me), patient, entry_id)
    except AccessDeniedError as denied:
        return _refusal_page(request, denied, patient_id)
    return documents.download(documents.file_of(view), view.entry.title)


@router.get("/urgence")
def emergency_page(request: Request, me: Me, patient: str | None = None) -> Response:
    return _page(request, "pro/urgence.html", {"values": {"patient": patient or ""}})


@router.post("/urgence")
def emergency(request: Request, me: Me, db: SessionDep, form: Form) -> Response:
    """Bris de glace: by the patient's id (from a refusal) or NIR, with a reason; refused if the patient opposed it
    or blocked the professional (traced either way)."""
    values = {"patient": text_field(form, "patient") or text_field(form, "nir") or "",
              "reason": text_field(form, "reason") or ""}  # fmt: skip
    try:
        if len(values["reason"]) < 5:
            raise CareError("reason", "indiquez le motif de l'accès en urgence (5 caractères au moins)")
        reference = values["patient"].replace(" ", "")
        try:
            patient = record.find_patient(db, reference)
        except CareError:
            raise CareError("nir", "aucun patient enregistré avec ce NIR") from None
        record.open_emergency_access(Caller.of(db, me), patient, values["reason"])
    except CareError as exc:
        return _page(request, "pro/urgence.html", {"values": values, **_errors([exc])}, 422)
    except AccessDeniedError as denied:
        _traced_refusal(request, denied)
        return _page(request, "pro/urgence.html", {"values": values, **_errors([CareError("reason", denied.message)])},
                     403)  # fmt: skip
    return redirect(f"/espace/pro/patients/{patient.id}", notice="pro-emergency")


# --- referrals ----------------------------------------------------------------------------------------------------


@router.get("/adressages")
def referral_lists(request: Request, me: Me, db: SessionDep) -> Response:
    pro = _me(db, me)
    authz.worklist(db, me, pro, "professional.referrals.read")
    sent = referrals.sent_and_received(db, pro.id, "referrer", open_only=False)
    received = referrals.sent_and_received(db, pro.id, "target", open_only=False)
    overdue_of_mine, _ = referrals.overdue_for_gp(db, pro.id)
    others = [r for r in overdue_of_mine if r.referrer_id != pro.id]
    return _page(request, "pro/adressages.html", {"sent": sent, "received": received, "others": others,
                                                  "status_fr": referrals.STATUS_LABELS})  # fmt: skip


def _referral_form(db: Session, me: Principal, values: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    pro = _me(db, me)
    return {"values": values, "patients": _my_patients(db, me), "doctors": _doctors(db, pro),
            "specialties": [s.value for s in Specialty if s.value in labels.SPECIALTIES], **extra}  # fmt: skip


@router.get("/adressages/nouveau")
def referral_form(request: Request, me: Me, db: SessionDep, patient: str | None = None) -> Response:
    return _page(request, "pro/adresser.html", _referral_form(db, me, {"patient_id": patient or "",
                                                                       "urgency": "routine"}))  # fmt: skip


def _attach(caller: Caller, patient: Patient, title: str | None, text: str | None, related: str) -> None:
    """A document joined to a referral or a request: filed in the patient's record (the correspondent, in the care
    team once asked, reads it there), linked to the request."""
    if not text:
        return
    record.add_entry(caller, patient, {
        "resourceType": "DocumentReference", "status": "current",
        "type": {"coding": [{"system": record.LOINC, "code": "34133-9", "display": "Synthèse"}]},
        "description": title or "Document joint",
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "language": "fr",
                                    "data": base64.b64encode(text.encode()).decode("ascii"),
                                    "title": title or "Document joint"}}],
        "context": {"related": [{"reference": related}]},
    })  # fmt: skip


@router.post("/adressages/nouveau")
def refer(request: Request, me: Me, db: SessionDep, form: Form) -> Response:
    keys = ("patient_id", "target_rpps", "target_specialty", "reason", "urgency", "document_title", "document_text",
            "vitale_attestation")  # fmt: skip
    values = {k: text_field(form, k) for k in keys}
    assert me.rpps is not None
    try:
        data = referrals.ReferralIn.model_validate({
            "patient_id": values["patient_id"] or "", "referrer_rpps": me.rpps, "target_rpps": values["target_rpps"],
            "target_specialty": values["target_specialty"], "reason": values["reason"] or "",
            "urgency": values["urgency"] or "routine"})  # fmt: skip
        patient, _ = authz.creating(db, me, data.patient_id, ResourceKind.CARE_COORDINATION, me.rpps,
                                    "referral.create", attestations=_attestations(request),
                                    attestation=values["vitale_attestation"], resource_type="ServiceRequest")  # fmt: skip
        created = referrals.refer(db, data)
        _attach(Caller.of(db, me), patient, values["document_title"], values["document_text"],
                f"ServiceRequest/referral-{created.id}")  # fmt: skip
    except ValidationError as exc:
        return _page(request, "pro/adresser.html", _referral_form(db, me, values, **_errors(list(field_errors(exc)))),
                     422)  # fmt: skip
    except CareError as exc:
        return _page(request, "pro/adresser.html", _referral_form(db, me, values, **_errors([exc])), 422)
    except AccessDeniedError as denied:
        _traced_refusal(request, denied)
        error = CareError("vitale_attestation", denied.message)
        return _page(request, "pro/adresser.html", _referral_form(db, me, values, **_errors([error])), 403)
    return redirect(f"/espace/pro/adressages/{created.id}", notice="pro-referred")


def _referral_access(db: Session, me: Principal, referral: Referral, operation: str, acting: bool = False) -> None:
    """As the API: the patient's care team and the two doctors named; a referral addressed to a specialty also the
    specialists of that specialty, who may take it."""
    participants = {referral.referrer.rpps, referral.target.rpps if referral.target else None}
    if referral.target is None and me.rpps is not None:
        mine = db.scalars(select(Professional).where(Professional.rpps == me.rpps)).one_or_none()
        if mine is not None and mine.specialty == referral.target_specialty:
            participants.add(mine.rpps)
    authz.coordination(db, me, referral.patient_id, operation, action=Action.WRITE if acting else Action.READ,
                       acting=me.rpps if acting else None, participants=participants, resource_type="ServiceRequest",
                       resource_id=referral.id)  # fmt: skip


@router.get("/adressages/{referral_id}")
def referral_page(request: Request, referral_id: str, me: Me, db: SessionDep) -> Response:
    referral = referrals.get_referral(db, referral_id)
    try:
        _referral_access(db, me, referral, "referral.read")
    except AccessDeniedError as denied:
        return _refusal_page(request, denied, referral.patient_id)
    view = authz.referral_view(db, me, referral, "referral.read")
    pro = _me(db, me)
    is_target = (referral.target_id == pro.id) or (referral.target_id is None
                                                   and pro.specialty == referral.target_specialty)  # fmt: skip
    return _page(request, "pro/adressage.html", {
        "referral": referral, "view": view, "is_target": is_target, "is_referrer": referral.referrer_id == pro.id,
        "overdue": referrals.is_overdue(referral), "status_fr": referrals.STATUS_LABELS, "values": {},
    })  # fmt: skip


@router.post("/adressages/{referral_id}/accepter")
def accept(request: Request, referral_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    referral = referrals.get_referral(db, referral_id)
    _referral_access(db, me, referral, "referral.accept", acting=True)
    assert me.rpps is not None
    referrals.accept(db, referral_id, me.rpps)
    return redirect(f"/espace/pro/adressages/{referral_id}", notice="pro-accepted")


@router.post("/adressages/{referral_id}/compte-rendu")
def report(request: Request, referral_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    referral = referrals.get_referral(db, referral_id)
    _referral_access(db, me, referral, "referral.report", acting=True)
    assert me.rpps is not None
    text = text_field(form, "report") or ""
    try:
        referrals.report(db, referral_id, referrals.ReportIn(professional_rpps=me.rpps, report=text))
    except (ValidationError, CareError) as exc:
        errors = _problems(exc)
        view = authz.referral_view(db, me, referral, "referral.read")
        return _page(request, "pro/adressage.html", {
            "referral": referral, "view": view, "is_target": True, "is_referrer": False,
            "overdue": referrals.is_overdue(referral), "status_fr": referrals.STATUS_LABELS, "values": {"report": text},
            **_errors(errors)}, 422)  # fmt: skip
    return redirect(f"/espace/pro/adressages/{referral_id}", notice="pro-reported")


@router.post("/adressages/{referral_id}/annuler")
def cancel_referral(request: Request, referral_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    referral = referrals.get_referral(db, referral_id)
    _referral_access(db, me, referral, "referral.cancel", acting=True)
    assert me.rpps is not None
    referrals.cancel(db, referral_id, me.rpps)
    return redirect(f"/espace/pro/adressages/{referral_id}", notice="pro-referral-cancelled")


# --- téléexpertise ------------------------------------------------------------------------------------------------


def _billing(on: dt.date) -> dict[str, int]:
    """What answering bills, at the tariffs in force (TE2 for the expert, RQD for the requester)."""
    p = law(on)
    return {teleexpertise.EXPERT_ACT: p["tariffs.ngap.TE2"], teleexpertise.REQUESTER_ACT: p["tariffs.ngap.RQD"]}


@router.get("/teleexpertises")
def teleexpertises(request: Request, me: Me, db: SessionDep) -> Response:
    pro = _me(db, me)
    authz.worklist(db, me, pro, "professional.teleexpertises.read")
    inbox = teleexpertise.inbox(db, pro.id)
    asked, _ = teleexpertise.for_professional(db, pro.id, role="requester", limit=100)
    answered, _ = teleexpertise.for_professional(db, pro.id, role="expert", status="answered", limit=100)
    return _page(request, "pro/teleexpertises.html", {
        "inbox": [(t, teleexpertise.days_left(t)) for t in inbox], "asked": asked, "answered": answered,
        "te_status": TE_STATUS, "status_of": teleexpertise.status_of, "priorities": teleexpertise.PRIORITY_LABELS,
        "billing": _billing(today()),
    })  # fmt: skip


def _te_form(db: Session, me: Principal, values: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    pro = _me(db, me)
    experts = _experts(db, pro)
    specialties = sorted({p.specialty for p in experts if p.specialty})
    return {"values": values, "patients": _my_patients(db, me), "experts": experts, "specialties": specialties,
            "priorities": teleexpertise.PRIORITY_LABELS, **extra}  # fmt: skip


@router.get("/teleexpertises/nouvelle")
def te_form(request: Request, me: Me, db: SessionDep, patient: str | None = None) -> Response:
    return _page(request, "pro/demander.html", _te_form(db, me, {"patient_id": patient or "", "priority": "routine"}))


def _least_busy(db: Session, experts: list[Professional], specialty: str) -> Professional:
    """A request to a specialty goes to the expert of that specialty with the fewest requests waiting."""
    candidates = [p for p in experts if p.specialty == specialty]
    if not candidates:
        raise CareError("target_specialty", "aucun médecin de cette spécialité ne reçoit de téléexpertise")
    return min(candidates, key=lambda p: (len(teleexpertise.inbox(db, p.id)), p.family_name, p.id))


@router.post("/teleexpertises/nouvelle")
def ask(request: Request, me: Me, db: SessionDep, form: Form) -> Response:
    keys = ("patient_id", "expert_rpps", "target_specialty", "question", "priority", "document_title",
            "document_text", "vitale_attestation")  # fmt: skip
    values: dict[str, Any] = {k: text_field(form, k) for k in keys}
    values["consent"] = "consent" in form
    assert me.rpps is not None
    try:
        if not values["consent"]:
            raise CareError("consent", "le patient doit être informé et consentir à la téléexpertise")
        expert_rpps = values["expert_rpps"]
        if not expert_rpps:
            if not values["target_specialty"]:
                raise CareError("expert_rpps", "choisissez le médecin requis ou une spécialité")
            expert_rpps = _least_busy(db, _experts(db, _me(db, me)), values["target_specialty"]).rpps
        documents = ([{"title": values["document_title"] or "Document joint", "content_type": "text/plain",
                       "text": values["document_text"]}] if values["document_text"] else [])  # fmt: skip
        data = teleexpertise.TeleexpertiseIn.model_validate({
            "patient_id": values["patient_id"] or "", "requester_rpps": me.rpps, "expert_rpps": expert_rpps,
            "question": values["question"] or "", "documents": documents, "consent_at": dt.datetime.now(dt.UTC),
            "priority": values["priority"] or "routine"})  # fmt: skip
        authz.creating(db, me, data.patient_id, ResourceKind.CARE_COORDINATION, me.rpps, "teleexpertise.create",
                       attestations=_attestations(request), attestation=values["vitale_attestation"],
                       resource_type="ServiceRequest", participants=(data.expert_rpps,))  # fmt: skip
        item = teleexpertise.request(db, data)
    except ValidationError as exc:
        return _page(request, "pro/demander.html", _te_form(db, me, values, **_errors(list(field_errors(exc)))), 422)
    except CareError as exc:
        return _page(request, "pro/demander.html", _te_form(db, me, values, **_errors([exc])), 422)
    except AccessDeniedError as denied:
        _traced_refusal(request, denied)
        error = CareError("vitale_attestation", denied.message)
        return _page(request, "pro/demander.html", _te_form(db, me, values, **_errors([error])), 403)
    return redirect(f"/espace/pro/teleexpertises/{item.id}", notice="pro-te-asked")


def _te_context(db: Session, me: Principal, item: Teleexpertise, **extra: Any) -> dict[str, Any]:
    view = authz.teleexpertise_view(db, me, item, "teleexpertise.read")
    pro = _me(db, me)
    billed = [(c, c.lines[0] if c.lines else None) for c in teleexpertise.claims_of(db, item)]
    return {"item": item, "view": view, "is_expert": item.expert_id == pro.id, "status": teleexpertise.status_of(item),
            "days_left": teleexpertise.days_left(item), "te_status": TE_STATUS, "billed": billed,
            "billing": _billing(today()), "priorities": teleexpertise.PRIORITY_LABELS, "values": {},
            **extra}  # fmt: skip


@router.get("/teleexpertises/{teleexpertise_id}")
def te_page(request: Request, teleexpertise_id: str, me: Me, db: SessionDep) -> Response:
    item = teleexpertise.get(db, teleexpertise_id)
    try:
        authz.coordination(db, me, item.patient_id, "teleexpertise.read",
                           participants=(item.requester.rpps, item.expert.rpps), resource_type="ServiceRequest",
                           resource_id=item.id)  # fmt: skip
    except AccessDeniedError as denied:
        return _refusal_page(request, denied, item.patient_id)
    return _page(request, "pro/teleexpertise.html", _te_context(db, me, item))


@router.post("/teleexpertises/{teleexpertise_id}/repondre")
def answer(request: Request, teleexpertise_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    item = teleexpertise.get(db, teleexpertise_id)
    authz.coordination(db, me, item.patient_id, "teleexpertise.answer", action=Action.WRITE, acting=me.rpps,
                       participants=(item.expert.rpps,), resource_type="ServiceRequest", resource_id=item.id)  # fmt: skip
    text = text_field(form, "answer") or ""
    assert me.rpps is not None
    try:
        teleexpertise.answer(db, teleexpertise_id, teleexpertise.AnswerIn(expert_rpps=me.rpps, answer=text))
    except (ValidationError, CareError) as exc:
        errors = _problems(exc)
        context = _te_context(db, me, item, values={"answer": text}, **_errors(errors))
        return _page(request, "pro/teleexpertise.html", context, 422)
    return redirect(f"/espace/pro/teleexpertises/{teleexpertise_id}", notice="pro-te-answered")


# --- feuilles de soins --------------------------------------------------------------------------------------------

FLAGS = {"emergency": "Urgence", "away_from_home": "Patient hors de sa résidence habituelle",
         "teleconsultation": "Téléconsultation (vidéo)", "replacing_gp": "Remplacement du médecin traitant",
         "ald_care": "Soins en rapport avec une ALD"}  # fmt: skip


def _acts(form: FormData | Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """The act rows of the form (code, amount, quantity); blank rows are left out. Returns (acts, rows as typed)."""
    acts, rows = [], []
    for i in range(ACT_ROWS):
        row = {k: (str(form.get(f"act{i}_{k}") or "").strip()) for k in ("code", "fee", "quantity")}
        rows.append(row)
        if not row["code"]:
            continue
        act: dict[str, Any] = {"code": row["code"]}
        if row["fee"]:
            act["fee"] = row["fee"].replace(",", ".").replace("€", "").strip()
        if row["quantity"]:
            act["quantity"] = row["quantity"]
        acts.append(act)
    return acts, rows


def _claim_values(form: FormData) -> dict[str, Any]:
    acts, rows = _acts(form)
    values: dict[str, Any] = {k: text_field(form, k) for k in ("patient_id", "date", "idempotency_key",
                                                               "vitale_attestation")}  # fmt: skip
    values.update({flag: flag in form for flag in FLAGS})
    values["acts"], values["rows"] = acts, rows
    return values


def _claim_in(values: Mapping[str, Any], rpps: str) -> claims.ClaimIn:
    return claims.ClaimIn.model_validate({
        "idempotency_key": values.get("idempotency_key") or "", "patient_id": values.get("patient_id") or "",
        "professional_rpps": rpps, "date": values.get("date") or today().isoformat(), "acts": values["acts"],
        **{flag: bool(values.get(flag)) for flag in FLAGS},
    })  # fmt: skip


def _claim_form(db: Session, me: Principal, values: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    rows = values.get("rows") or [{"code": "", "fee": "", "quantity": ""} for _ in range(ACT_ROWS)]
    return {"values": values, "rows": rows, "patients": _my_patients(db, me), "flags": FLAGS, **extra}


@router.get("/feuilles")
def claims_list(request: Request, me: Me, db: SessionDep) -> Response:
    pro = _me(db, me)
    authz.worklist(db, me, pro, "professional.claims.read")
    rows, total = claims.list_claims(db, professional_id=pro.id, limit=100)
    return _page(request, "pro/feuilles.html", {"rows": rows, "total": total, "claim_status": CLAIM_STATUS})


@router.get("/feuilles/nouvelle")
def claim_form(request: Request, me: Me, db: SessionDep, patient: str | None = None) -> Response:
    values = {"patient_id": patient or "", "date": today().isoformat(), "idempotency_key": f"web-{uuid.uuid4().hex}"}
    return _page(request, "pro/feuille.html", _claim_form(db, me, values))


def _preview_or_send(request: Request, me: Principal, db: SessionDep, form: FormData) -> tuple[Any, Response | None]:
    values = _claim_values(form)
    assert me.rpps is not None
    sending = form.get("action") == "envoyer"
    try:
        data = _claim_in(values, me.rpps)
        authz.creating(db, me, data.patient_id, ResourceKind.CLAIM, me.rpps,
                       "claim.create" if sending else "claim.preview", attestations=_attestations(request),
                       attestation=values["vitale_attestation"], resource_type="Claim",
                       participants=(me.rpps,))  # fmt: skip
        if sending:
            claim, _ = claims.submit(db, data)
            return claim, None
        return claims.preview(db, data).to_dict(), None
    except ValidationError as exc:
        errors: list[FieldError | CareError] = list(field_errors(exc))
        status = 422
    except CareError as exc:
        errors, status = [exc], 422
    except AccessDeniedError as denied:
        _traced_refusal(request, denied)
        errors, status = [CareError("vitale_attestation", denied.message)], 403
    return None, _page(request, "pro/feuille.html", _claim_form(db, me, values, **_errors(errors)), status)


@router.post("/feuilles/nouvelle")
def claim_submit(request: Request, me: Me, db: SessionDep, form: Form) -> Response:
    result, failed = _preview_or_send(request, me, db, form)
    if failed is not None:
        return failed
    if isinstance(result, Claim):
        return redirect(f"/espace/pro/feuilles/{result.id}", notice="pro-claim-sent")
    return _page(request, "pro/feuille.html", _claim_form(db, me, _claim_values(form), preview=result))


@router.post("/feuilles/calcul")
def claim_preview_fragment(request: Request, me: Me, db: SessionDep, form: Form) -> Response:
    """The amounts of the form as typed, as an HTML fragment (the page's script shows them as one types; the
    "Calculer" button gives the same without script)."""
    values = _claim_values(form)
    assert me.rpps is not None
    try:
        data = _claim_in(values, me.rpps)
        authz.creating(db, me, data.patient_id, ResourceKind.CLAIM, me.rpps, "claim.preview",
                       attestations=_attestations(request), attestation=values["vitale_attestation"],
                       resource_type="Claim", participants=(me.rpps,))  # fmt: skip
        context: dict[str, Any] = {"preview": claims.preview(db, data).to_dict()}
    except ValidationError as exc:
        context = _errors(list(field_errors(exc)))
    except CareError as exc:
        context = _errors([exc])
    except AccessDeniedError as denied:
        _traced_refusal(request, denied)
        context = _errors([CareError("vitale_attestation", denied.message)])
    response = templates.TemplateResponse(request, "pro/_calcul.html", context)
    response.headers["Cache-Control"] = "no-store"
    return response


def _claim_access(db: Session, me: Principal, claim_id: str, operation: str, action: Action = Action.READ) -> Claim:
    claim = claims.get_claim(db, claim_id)
    authz.claim(db, me, claim.patient_id, claim.professional.rpps, operation, action=action, resource_id=claim.id)
    return claim


def _claim_context(db: Session, claim: Claim, **extra: Any) -> dict[str, Any]:
    rows = [{"code": line.code, "fee": f"{line.fee / 100:.2f}".replace(".", ","), "quantity": str(line.quantity)}
            for line in claim.lines]  # fmt: skip
    rows += [{"code": "", "fee": "", "quantity": ""} for _ in range(ACT_ROWS - len(rows))]
    return {"claim": claim, "decision": claim.adjudication, "versions": claims.history(db, claim.id),
            "claim_status": CLAIM_STATUS, "rows": rows[:ACT_ROWS] if len(rows) >= ACT_ROWS else rows,
            "new_key": f"web-{uuid.uuid4().hex}", "values": {}, **extra}  # fmt: skip


@router.get("/feuilles/{claim_id}")
def claim_page(request: Request, claim_id: str, me: Me, db: SessionDep) -> Response:
    claim = _claim_access(db, me, claim_id, "claim.read")
    return _page(request, "pro/feuille_detail.html", _claim_context(db, claim))


@router.post("/feuilles/{claim_id}/corriger")
def correct(request: Request, claim_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    claim = _claim_access(db, me, claim_id, "claim.correct", Action.WRITE)
    acts, rows = _acts(form)
    reason = text_field(form, "reason") or ""
    try:
        data = claims.CorrectionIn.model_validate({"idempotency_key": text_field(form, "idempotency_key") or "",
                                                   "acts": acts, "reason": reason})  # fmt: skip
        corrected, _ = claims.correct(db, claim_id, data)
    except (ValidationError, CareError) as exc:
        errors = _problems(exc)
        context = _claim_context(db, claim, **_errors(errors))
        context["rows"], context["values"] = rows, {"reason": reason}
        return _page(request, "pro/feuille_detail.html", context, 422)
    return redirect(f"/espace/pro/feuilles/{corrected.id}", notice="pro-claim-corrected")


@router.post("/feuilles/{claim_id}/annuler")
def cancel_claim(request: Request, claim_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    claim = _claim_access(db, me, claim_id, "claim.cancel", Action.WRITE)
    reason = text_field(form, "cancel_reason") or ""
    if len(reason) < 3:
        context = _claim_context(db, claim, **form_errors([CareError("cancel_reason", "indiquez le motif")],
                                                          {"cancel_reason": "Motif d'annulation"}))  # fmt: skip
        return _page(request, "pro/feuille_detail.html", context, 422)
    claims.cancel(db, claim_id, reason)
    return redirect(f"/espace/pro/feuilles/{claim_id}", notice="pro-claim-cancelled")


__all__ = ["SPACE", "router"]
