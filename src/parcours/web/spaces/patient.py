"""The patient space: my médecin traitant, my record and its controls, my care and reimbursements, the simulator
prefilled with my situation. A parent sees here the records of the minors they represent.

Every page names the record it shows (``/espace/patient/{patient_id}/…``) and asks the same access decision as the
API (``api.authz`` and the record services): another patient's id is refused (403, traced) and shows nothing of them.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from parcours.api import authz
from parcours.api.deps import SessionDep
from parcours.api.security import PresenceAttestations
from parcours.care import claims, declarations, people, referrals, teleexpertise
from parcours.care.common import age_on, today
from parcours.care.errors import CareError, not_found
from parcours.errors import FieldError
from parcours.record import service as record
from parcours.record.access import Action, Resource, ResourceKind
from parcours.record.guard import Caller, refuse_unknown_patient
from parcours.record.identity import Principal, Role
from parcours.record.service import EntryInvalidError, EntryView
from parcours.rules.contracts.compare import NEEDS
from parcours.store.models import Claim, Patient
from parcours.web import session
from parcours.web.pages import LEVELS, NEED_LABELS
from parcours.web.presets import CARE_TYPES, PRESETS
from parcours.web.service import PUBLIC_ONLY, contracts_listing
from parcours.web.spaces import documents
from parcours.web.spaces import profile as profile_items
from parcours.web.spaces.base import Space, form_errors, person, redirect, register, render, text_field

router = APIRouter(prefix="/espace/patient", include_in_schema=False)
SPACE = register(
    Space(
        key="patient",
        title="Espace patient",
        home="/espace/patient",
        roles=(Role.PATIENT,),
        nav=(
            ("/espace/patient", "Accueil"),
            ("/espace/patient/{patient}/medecin-traitant", "Médecin traitant"),
            ("/espace/patient/{patient}/dossier", "Mon dossier"),
            ("/espace/patient/{patient}/dossier/reglages", "Confidentialité"),
            ("/espace/patient/{patient}/soins", "Mes soins"),
            ("/espace/patient/{patient}/remboursements", "Remboursements"),
            ("/espace/patient/{patient}/acces", "Historique des accès"),
            ("/espace/patient/{patient}/simulateur", "Simulateur"),
        ),
    ),
    notices={
        "masque": "Le document est masqué : seuls vous et votre médecin traitant le voyez.",
        "demasque": "Le document n'est plus masqué.",
        "document": "Le document est ajouté à votre dossier.",
        "profil": "C'est noté dans votre profil médical, comme déclaré par vous.",
        "mesure": "La mesure est ajoutée à votre profil médical.",
        "bloque": "Ce professionnel ne peut plus accéder à votre dossier.",
        "debloque": "Ce professionnel n'est plus bloqué.",
        "opposition": "Votre choix sur l'accès en urgence est enregistré.",
        "non_opposition": "L'autorisation de ce professionnel est enregistrée.",
        "non_opposition_retiree": "L'autorisation de ce professionnel est retirée.",
        "mt_fin": "La déclaration de médecin traitant est terminée.",
    },
)
Me = Annotated[Principal, person(Role.PATIENT)]
Form = Annotated[FormData, Depends(session.checked_form)]

PROFILE_SECTIONS = (
    ("AllergyIntolerance", "Allergies"),
    ("MedicationStatement", "Traitements"),
    ("Condition", "Antécédents"),
    ("Immunization", "Vaccinations"),
    ("Observation", "Mesures et résultats"),
)
LOINC = "http://loinc.org"
DOCUMENT_TYPES = {  # what a patient files themself (LOINC document types)
    "11488-4": "Compte rendu de consultation",
    "57833-6": "Ordonnance",
    "11502-2": "Résultats de biologie",
    "18748-4": "Compte rendu d'imagerie",
    "34133-9": "Synthèse médicale",
    "51851-4": "Document administratif",
}
DOCUMENT_LABELS = {"title": "Titre", "doc_type": "Type de document", "doc_date": "Date du document",
                   "text": "Contenu", "file": "Fichier", "resource": "Document"}  # fmt: skip
GP_LABELS = {"professional_rpps": "Médecin choisi", "consent": "Consentement"}
RPPS_LABELS = {"rpps": "Professionnel", "block_rpps": "Professionnel à bloquer", "allow_rpps": "Professionnel"}


def _nav(patient: Patient) -> dict[str, str]:
    return {"patient": patient.id}


def _page(request: Request, template: str, me: Principal, patient: Patient, **context: Any) -> Response:
    status = int(context.pop("status_code", 200))
    full = {"patient": patient, "is_self": patient.nir == me.identifier, **context}
    return render(request, template, full, space=SPACE, nav_args=_nav(patient), status_code=status)


def _record_patient(db: Any, me: Principal, reference: str, kind: ResourceKind, action: Action) -> Patient:
    """The patient of a record page; an unknown id is refused as another patient's would be (nothing learnt)."""
    try:
        return record.find_patient(db, reference)
    except CareError as exc:
        if exc.kind == "not_found":
            refuse_unknown_patient(Caller.of(db, me), Resource(kind), action, "record.patient.find")
        raise


@router.get("")
def home(request: Request, me: Me, db: SessionDep) -> Response:
    records, _ = people.list_patients(db, restrict=lambda query: authz.visible_patients(query, me), limit=20)
    own = next((p for p in records if p.nir == me.identifier), None)
    minors = [p for p in records if p.nir != me.identifier]
    nav = {"patient": own.id} if own else ({"patient": minors[0].id} if len(minors) == 1 else {})
    return render(request, "patient/accueil.html", {"own": own, "minors": minors}, space=SPACE, nav_args=nav)


# --- my médecin traitant ---------------------------------------------------------------------------------------


def _outside_pathway(db: Any, me: Principal, patient: Patient) -> dict[str, Any]:
    """This year's visits, and what each would have cost the patient outside the pathway (no MT, no referral)."""
    authz.claim(db, me, patient.id, None, "patient.claims.read")
    year = today().year
    rows, _ = claims.list_claims(db, patient_id=patient.id, date_from=dt.date(year, 1, 1), limit=200)
    visits = []
    for claim in rows:
        if claim.status not in claims.LIVE:
            continue
        outside = claims.outside_pathway(claim)
        steps = [s for s in outside.explanation if s.rule.startswith("pathway.")]
        visits.append({"claim": claim, "outside_amo": outside.amo, "extra": outside.patient - claim.patient_share,
                       "steps": steps})  # fmt: skip
    return {"visits": visits, "extra_total": sum(v["extra"] for v in visits), "year": year}


def _gp_page(request: Request, me: Principal, db: Any, patient: Patient, **extra: Any) -> Response:
    current = declarations.active_declaration(db, patient.id)
    history = list(reversed(declarations.history(db, patient.id)))
    doctors, _ = people.list_professionals(db, profession="physician", limit=200)
    return _page(request, "patient/medecin_traitant.html", me, patient, current=current, history=history,
                 doctors=doctors, costs=_outside_pathway(db, me, patient),
                 end_labels=declarations.END_REASON_LABELS, **extra)  # fmt: skip


@router.get("/{patient_id}/medecin-traitant")
def gp_page(request: Request, patient_id: str, me: Me, db: SessionDep) -> Response:
    patient = authz.patient_file(db, me, patient_id, "patient.declarations.read")
    return _gp_page(request, me, db, patient)


@router.post("/{patient_id}/medecin-traitant/attestation")
def gp_attestation(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    """Declare or change: the patient's presence attestation for the chosen doctor is their consent; the doctor
    files the declaration with it (as with the carte Vitale at the desk). Same checks and trace as the API."""
    patient = authz.known_patient(db, me, patient_id, Resource(ResourceKind.PRESENCE_ATTESTATION), Action.WRITE,
                                  "patient.vitale_attestation.create")  # fmt: skip
    rpps = text_field(form, "professional_rpps")
    errors: list[FieldError] = []
    doctor = people.list_professionals(db, profession="physician", limit=500)[0]
    chosen = next((d for d in doctor if d.rpps == rpps), None)
    if chosen is None:
        errors.append(FieldError("professional_rpps", "choisissez un médecin dans la liste"))
    if form.get("consent") != "oui":
        errors.append(FieldError("consent", "cochez la case : votre accord est nécessaire à la déclaration"))
    if errors or chosen is None:
        authz.patient_file(db, me, patient.id, "patient.declarations.read")
        return _gp_page(request, me, db, patient, status_code=422, values={"professional_rpps": rpps},
                        **form_errors(errors, GP_LABELS))  # fmt: skip
    authz.check(db, me, patient, Resource(ResourceKind.PRESENCE_ATTESTATION), Action.WRITE,
                "patient.vitale_attestation.create", resource_type="Consent", resource_id=chosen.rpps, trace=True,
                detail=f"attestation de présence remise à {chosen.given_name} {chosen.family_name}")  # fmt: skip
    attestations: PresenceAttestations = request.app.state.presence_attestations
    token, attestation = attestations.issue(patient.nir, chosen.rpps, me.identifier)
    authz.patient_file(db, me, patient.id, "patient.declarations.read")
    return _gp_page(request, me, db, patient, attestation={"token": token, "doctor": chosen,
                                                           "expires_at": attestation.expires_at})  # fmt: skip


@router.post("/{patient_id}/medecin-traitant/fin")
def gp_end(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = authz.known_patient(db, me, patient_id, Resource(ResourceKind.GP_CHOICE), Action.WRITE,
                                  "patient.declaration.end")  # fmt: skip
    current = declarations.active_declaration(db, patient.id)
    authz.check(db, me, patient,
                Resource(ResourceKind.GP_CHOICE, acting_professional=current.professional.rpps if current else None),
                Action.WRITE, "patient.declaration.end", resource_type="GpDeclaration",
                resource_id=current.id if current else None, trace=True)  # fmt: skip
    declarations.end_declaration(db, patient.id, None, "patient_request")
    return redirect(f"/espace/patient/{patient.id}/medecin-traitant", notice="mt_fin")


# --- my record ---------------------------------------------------------------------------------------------------


def _document_type(view: EntryView) -> tuple[str, str]:
    coding = (view.entry.resource.get("type") or {}).get("coding") or [{}]
    code = str(coding[0].get("code") or "")
    return code, str(coding[0].get("display") or DOCUMENT_TYPES.get(code) or "Document")


def _record_page(request: Request, me: Principal, db: Any, patient: Patient, **extra: Any) -> Response:
    caller = Caller.of(db, me)
    views, _ = record.search_entries(caller, patient, limit=500, operation="record.entries.search")
    documents = [v for v in views if v.entry.section == "document"]
    types = sorted({_document_type(v) for v in documents}, key=lambda t: t[1])
    chosen = request.query_params.get("type") or ""
    since = request.query_params.get("depuis") or ""
    search = (request.query_params.get("texte") or "").strip().lower()
    shown = [v for v in documents if not chosen or _document_type(v)[0] == chosen]
    try:
        since_day = dt.date.fromisoformat(since) if since else None
    except ValueError:
        since_day = None
    if since_day is not None:
        shown = [v for v in shown if v.entry.entry_date.date() >= since_day]
    if search:
        shown = [v for v in shown if search in v.entry.title.lower()]
    profile: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for view in views:
        if view.entry.section == "profile":
            profile[view.entry.resource_type].append(
                {"view": view, "value": profile_items.shown_value(view.entry.resource)}
            )
    professionals, _ = people.list_professionals(db, limit=500)
    authors = {p.rpps: f"Dr {p.given_name} {p.family_name}" if p.profession == "physician"
               else f"{p.given_name} {p.family_name}" for p in professionals}  # fmt: skip
    authors[patient.nir] = "vous" if patient.nir == me.identifier else f"{patient.given_name} {patient.family_name}"
    authors.setdefault(me.identifier, "vous")
    return _page(request, "patient/dossier.html", me, patient, authors=authors, documents=[
        {"view": v, "type": _document_type(v)[1]} for v in shown], all_documents=len(documents), types=types,
        filters={"type": chosen, "depuis": since, "texte": search}, profile=profile, sections=PROFILE_SECTIONS,
        document_types=DOCUMENT_TYPES, item_kinds=profile_items.ITEM_KINDS, measures=profile_items.MEASURES,
        **extra)  # fmt: skip


@router.get("/{patient_id}/dossier")
def record_page(request: Request, patient_id: str, me: Me, db: SessionDep) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_ENTRY, Action.READ)
    return _record_page(request, me, db, patient)


@router.post("/{patient_id}/dossier/documents")
def add_document(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_ENTRY, Action.WRITE)
    values = {name: text_field(form, name) or "" for name in DOCUMENT_LABELS if name != "file"}
    upload = form.get("file")
    data = upload.file.read() if isinstance(upload, UploadFile) else b""  # sync handler: runs off the event loop
    errors: list[FieldError] = []
    if not values["title"]:
        errors.append(FieldError("title", "indiquez un titre"))
    if values["doc_type"] not in DOCUMENT_TYPES:
        errors.append(FieldError("doc_type", "choisissez un type de document"))
    content_type = None
    if data:
        try:
            content_type = documents.checked_upload(data, request.app.state.limits.max_attachment_bytes)
        except documents.UploadError as exc:
            errors.append(FieldError("file", str(exc)))
    elif not values["text"]:
        errors.append(FieldError("text", "joignez un fichier ou saisissez le contenu du document"))
    day = None
    if values["doc_date"]:
        try:
            day = dt.date.fromisoformat(values["doc_date"])
        except ValueError:
            errors.append(FieldError("doc_date", "date invalide (jj/mm/aaaa)"))
        else:
            if day > today():
                errors.append(FieldError("doc_date", "la date ne peut pas être dans le futur"))
    if not errors:
        code = values["doc_type"]
        attachment: dict[str, Any] = {"contentType": content_type or documents.TEXT_TYPE, "language": "fr",
                                      "title": values["title"],
                                      "data": base64.b64encode(data or values["text"].encode()).decode("ascii")}  # fmt: skip
        if data:
            attachment["size"] = len(data)
        payload: dict[str, Any] = {
            "resourceType": "DocumentReference", "status": "current", "description": values["title"],
            "type": {"coding": [{"system": LOINC, "code": code, "display": DOCUMENT_TYPES[code]}]},
            "content": [{"attachment": attachment}],
        }  # fmt: skip
        if day is not None:
            payload["date"] = dt.datetime.combine(day, dt.time(12), dt.UTC).isoformat()
        try:
            record.add_entry(Caller.of(db, me), patient, payload)
        except EntryInvalidError as exc:
            errors.append(FieldError("resource", exc.message))
    if errors:
        return _record_page(request, me, db, patient, status_code=422, values=values,
                            **form_errors(errors, DOCUMENT_LABELS))  # fmt: skip
    return redirect(f"/espace/patient/{patient.id}/dossier", notice="document")


def _add_to_profile(request: Request, me: Principal, db: Any, patient: Patient, values: dict[str, str],
                    built: tuple[dict[str, Any] | None, list[FieldError]], labels: dict[str, str],
                    notice: str) -> Response:  # fmt: skip
    resource, errors = built
    if resource is not None:
        try:
            record.add_entry(Caller.of(db, me), patient, resource)
        except EntryInvalidError as exc:
            errors = [FieldError("resource", exc.message)]  # shown as the form's error
    if errors:
        return _record_page(request, me, db, patient, status_code=422, values=values,
                            **form_errors(errors, labels))  # fmt: skip
    return redirect(f"/espace/patient/{patient.id}/dossier", notice=notice)


@router.post("/{patient_id}/dossier/profil")
def add_profile_item(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_ENTRY, Action.WRITE)
    values = {name: text_field(form, name) or "" for name in profile_items.ITEM_LABELS}
    built = profile_items.item_resource(values, today=today())
    return _add_to_profile(request, me, db, patient, values, built, profile_items.ITEM_LABELS, "profil")


@router.post("/{patient_id}/dossier/mesures")
def add_measure(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_ENTRY, Action.WRITE)
    values = {name: text_field(form, name) or "" for name in profile_items.MEASURE_LABELS}
    built = profile_items.measure_resource(values, today=today())
    return _add_to_profile(request, me, db, patient, values, built, profile_items.MEASURE_LABELS, "mesure")


def _document(db: Any, me: Principal, patient_id: str, entry_id: str) -> tuple[Patient, EntryView]:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_ENTRY, Action.READ)
    view = record.read_entry(Caller.of(db, me), patient, entry_id)
    if view.entry.resource_type != "DocumentReference":
        raise not_found("entry_id", "document")
    return patient, view


@router.post("/{patient_id}/dossier/{entry_id}/masquer")
def mask(request: Request, patient_id: str, entry_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_CONTROL, Action.WRITE)
    record.mask(Caller.of(db, me), patient, entry_id, "professionals")
    return redirect(f"/espace/patient/{patient.id}/dossier", notice="masque")


@router.post("/{patient_id}/dossier/{entry_id}/demasquer")
def unmask(request: Request, patient_id: str, entry_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_CONTROL, Action.WRITE)
    record.unmask(Caller.of(db, me), patient, entry_id, "professionals")
    return redirect(f"/espace/patient/{patient.id}/dossier", notice="demasque")


# --- the controls: blocks, opposition, non-oppositions -----------------------------------------------------------


def _controls_page(request: Request, me: Principal, db: Any, patient: Patient, **extra: Any) -> Response:
    controls = record.controls(Caller.of(db, me), patient)
    professionals, _ = people.list_professionals(db, limit=500)
    by_rpps = {p.rpps: p for p in professionals}
    return _page(request, "patient/reglages.html", me, patient, controls=controls, professionals=professionals,
                 by_rpps=by_rpps, **extra)  # fmt: skip


@router.get("/{patient_id}/dossier/reglages")
def controls_page(request: Request, patient_id: str, me: Me, db: SessionDep) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_CONTROL, Action.READ)
    return _controls_page(request, me, db, patient)


def _chosen_rpps(db: Any, form: FormData, field: str) -> str | None:
    rpps = text_field(form, field)
    known, _ = people.list_professionals(db, limit=500)
    return rpps if rpps in {p.rpps for p in known} else None


@router.post("/{patient_id}/dossier/reglages/blocage")
def block(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_CONTROL, Action.WRITE)
    rpps = _chosen_rpps(db, form, "block_rpps")
    if rpps is None:
        return _controls_page(request, me, db, patient, status_code=422, **form_errors(
            [FieldError("block_rpps", "choisissez un professionnel dans la liste")], RPPS_LABELS))  # fmt: skip
    try:
        record.block(Caller.of(db, me), patient, rpps)
    except CareError as exc:
        return _controls_page(request, me, db, patient, status_code=409, **form_errors(
            [FieldError("block_rpps", exc.message)], RPPS_LABELS))  # fmt: skip
    return redirect(f"/espace/patient/{patient.id}/dossier/reglages", notice="bloque")


@router.post("/{patient_id}/dossier/reglages/deblocage")
def unblock(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_CONTROL, Action.WRITE)
    record.unblock(Caller.of(db, me), patient, text_field(form, "rpps") or "")
    return redirect(f"/espace/patient/{patient.id}/dossier/reglages", notice="debloque")


@router.post("/{patient_id}/dossier/reglages/opposition")
def opposition(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.RECORD_CONTROL, Action.WRITE)
    record.set_emergency_opposition(Caller.of(db, me), patient, form.get("opposed") == "oui")
    return redirect(f"/espace/patient/{patient.id}/dossier/reglages", notice="opposition")


@router.post("/{patient_id}/dossier/reglages/non-opposition")
def non_opposition(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.NON_OPPOSITION, Action.WRITE)
    rpps = _chosen_rpps(db, form, "allow_rpps")
    if rpps is None:
        return _controls_page(request, me, db, patient, status_code=422, **form_errors(
            [FieldError("allow_rpps", "choisissez un professionnel dans la liste")], RPPS_LABELS))  # fmt: skip
    try:
        record.record_non_opposition(Caller.of(db, me), patient, rpps)
    except CareError as exc:
        return _controls_page(request, me, db, patient, status_code=409, **form_errors(
            [FieldError("allow_rpps", exc.message)], RPPS_LABELS))  # fmt: skip
    return redirect(f"/espace/patient/{patient.id}/dossier/reglages", notice="non_opposition")


@router.post("/{patient_id}/dossier/reglages/non-opposition/retrait")
def revoke_non_opposition(request: Request, patient_id: str, me: Me, db: SessionDep, form: Form) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.NON_OPPOSITION, Action.WRITE)
    record.revoke_non_opposition(Caller.of(db, me), patient, text_field(form, "rpps") or "")
    return redirect(f"/espace/patient/{patient.id}/dossier/reglages", notice="non_opposition_retiree")


# --- who accessed my record --------------------------------------------------------------------------------------

HISTORY_PAGE = 50


@router.get("/{patient_id}/acces")
def access_history(request: Request, patient_id: str, me: Me, db: SessionDep, page: int = 1) -> Response:
    patient = _record_patient(db, me, patient_id, ResourceKind.ACCESS_HISTORY, Action.READ)
    page = max(1, page)
    found = record.access_history(Caller.of(db, me), patient, offset=(page - 1) * HISTORY_PAGE, limit=HISTORY_PAGE)
    rows = [record.describe(e) for e in found.entries]
    pages = max(1, -(-found.total // HISTORY_PAGE))
    professionals, _ = people.list_professionals(db, limit=500)
    names = {f"professional:{p.rpps}": f"{p.given_name} {p.family_name}" for p in professionals}
    return _page(request, "patient/acces.html", me, patient, rows=rows, names=names, total=found.total, page=page, pages=pages,
                 emergencies=[r for r in rows if r["emergency"]])  # fmt: skip


# --- my care: referrals and téléexpertises ------------------------------------------------------------------------


@router.get("/{patient_id}/soins")
def care_page(request: Request, patient_id: str, me: Me, db: SessionDep) -> Response:
    patient = authz.coordination(db, me, patient_id, "patient.referrals.read")
    rows, _ = referrals.of_patient(db, patient.id, limit=100)
    referral_views = authz.referral_views(db, me, list(reversed(rows)), "patient.referrals.read")
    authz.coordination(db, me, patient.id, "patient.teleexpertises.read")
    items = teleexpertise.of_patient(db, patient.id)
    te_views = authz.teleexpertise_views(db, me, items, "patient.teleexpertises.read")
    return _page(request, "patient/soins.html", me, patient, referrals=referral_views, teleexpertises=te_views)


# --- my reimbursements ---------------------------------------------------------------------------------------------


def _split(claim: Claim) -> dict[str, Any]:
    """Sécurité sociale, mutuelle (when the contract is one parcours knows) and what is left, for one claim."""
    shares = claims.complementary_share(claim) if claim.status == "paid" else None
    amc = sum(shares.values()) if shares else 0
    return {"claim": claim, "amo": claim.amo, "amc": amc if shares is not None else None,
            "rest": claim.patient_share - amc}  # fmt: skip


@router.get("/{patient_id}/remboursements")
def reimbursements(request: Request, patient_id: str, me: Me, db: SessionDep) -> Response:
    patient = authz.claim(db, me, patient_id, None, "patient.claims.read")
    rows, total = claims.list_claims(db, patient_id=patient.id, limit=100)
    on = today()
    year = claims.year_summary(db, patient.id, on.year, on)
    return _page(request, "patient/remboursements.html", me, patient, rows=[_split(c) for c in rows], total=total,
                 year=year)  # fmt: skip


@router.get("/{patient_id}/remboursements/{claim_id}")
def reimbursement(request: Request, patient_id: str, claim_id: str, me: Me, db: SessionDep) -> Response:
    claim = claims.get_claim(db, claim_id)
    if claim.patient_id != patient_id:  # the claim of another patient: as if it did not exist here
        authz.claim(db, me, claim.patient_id, claim.professional.rpps, "claim.read", resource_id=claim.id)
        raise CareError("claim_id", "feuille de soins introuvable", "not_found")
    authz.claim(db, me, claim.patient_id, claim.professional.rpps, "claim.read", resource_id=claim.id)
    patient = claim.patient
    return _page(request, "patient/remboursement.html", me, patient, split=_split(claim),
                 adjudication=claim.adjudication)  # fmt: skip


# --- the simulator, prefilled ----------------------------------------------------------------------------------------


@router.get("/{patient_id}/simulateur")
def simulator(request: Request, patient_id: str, me: Me, db: SessionDep) -> Response:
    """The public simulator and comparator, prefilled with the patient's situation (nothing is sent to them but
    what the form shows; their pages store nothing)."""
    patient = authz.patient_file(db, me, patient_id, "patient.simulation.prefill")
    on = today()
    ald = any(a.start <= on and (a.end is None or on <= a.end) for a in patient.ald_periods)
    contracts = [c for c in contracts_listing() if c["name"] != PUBLIC_ONLY]
    situation = {
        "age": age_on(patient.birth_date, on),
        "gp_declared": declarations.active_declaration(db, patient.id) is not None,
        "c2s": patient.c2s,
        "ald": ald,
        "contract": patient.mutuelle_contract or "",
    }
    return _page(
        request,
        "patient/simulateur.html",
        me,
        patient,
        situation=situation,
        presets=PRESETS,
        care_types=CARE_TYPES,
        contracts=contracts,
        needs=NEEDS,
        levels=LEVELS,
        need_labels=NEED_LABELS,
    )


# after every fixed /dossier/… page (réglages): the entry id would take their names
@router.get("/{patient_id}/dossier/{entry_id}")
def document_page(request: Request, patient_id: str, entry_id: str, me: Me, db: SessionDep) -> Response:
    patient, view = _document(db, me, patient_id, entry_id)
    return _page(request, "patient/document.html", me, patient, view=view, type=_document_type(view)[1],
                 attachment=documents.attachment_of(view.entry.resource),
                 mine=view.entry.author_identifier == me.identifier)  # fmt: skip


@router.get("/{patient_id}/dossier/{entry_id}/fichier")
def document_file(patient_id: str, entry_id: str, me: Me, db: SessionDep) -> Response:
    _, view = _document(db, me, patient_id, entry_id)
    return documents.download(documents.file_of(view), view.entry.title)
