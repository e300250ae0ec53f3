"""The shared record: entries, export, coherence flags, the patient's controls, bris de glace, access history.

``{patient}`` is the patient's id or NIR. Every handler goes through the record services, which decide with the one
access-decision function and trace each read and write in the audit trail.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from fhir.resources.R4B.bundle import Bundle
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from parcours.api.deps import Limit, Offset, SessionDep
from parcours.api.fhir.rest import FHIR_JSON, FhirResponse, to_json
from parcours.api.schemas import Page
from parcours.api.security import CurrentPrincipal
from parcours.care.errors import CareError
from parcours.record import service
from parcours.record.access import Action, Resource, ResourceKind
from parcours.record.entries import with_security_label
from parcours.record.guard import Caller, refuse_unknown_patient
from parcours.record.identity import Principal
from parcours.record.service import EntryInvalidError, EntryView, MaskScope
from parcours.store.models import Patient

router = APIRouter(prefix="/api/record", tags=["dossier partagé"])

ResourceType = Literal[
    "DocumentReference", "AllergyIntolerance", "MedicationStatement", "Condition", "Immunization", "Observation"
]


class EntryOut(BaseModel):
    id: str
    resource_type: str
    section: str
    title: str
    status: str | None
    author_role: str
    author: str
    entry_date: dt.datetime
    recorded_at: dt.datetime
    masked: bool = Field(description="Masqué par le patient : visible de lui et de son médecin traitant seulement")
    secret: bool = Field(description="Tenu secret vis-à-vis des représentants légaux (patient mineur)")
    source: str | None
    resource: dict[str, Any] = Field(description="La ressource FHIR R4")

    @classmethod
    def of(cls, view: EntryView) -> EntryOut:
        entry = view.entry
        return cls(
            id=entry.id,
            resource_type=entry.resource_type,
            section=entry.section,
            title=entry.title,
            status=entry.status,
            author_role=entry.author_role,
            author=entry.author_identifier,
            entry_date=entry.entry_date,
            recorded_at=entry.recorded_at,
            masked=view.masked,
            secret=view.secret,
            source=entry.source,
            resource=with_security_label(entry.resource, view.masked),
        )


def caller(session: Any, principal: Any) -> Caller:
    return Caller.of(session, principal)


def _patient(session: Session, principal: Principal, reference: str, kind: ResourceKind, action: Action) -> Patient:
    """The patient by id or NIR; an unknown one is refused like a patient the caller has nothing to do with, so that
    identifiers cannot be tried to learn who is a patient."""
    try:
        return service.find_patient(session, reference)
    except CareError as exc:
        if exc.kind == "not_found":
            refuse_unknown_patient(caller(session, principal), Resource(kind), action, "record.patient.find")
        raise


def _check_attachments(payload: dict[str, Any], limit: int) -> None:
    """Attachments travel inline (base64 ``data``): their decoded size, all together, is bounded (413)."""
    contents = payload.get("content")
    if not isinstance(contents, list):
        return
    total = 0
    for index, content in enumerate(contents):
        attachment = content.get("attachment") if isinstance(content, dict) else None
        data = attachment.get("data") if isinstance(attachment, dict) else None
        if isinstance(data, str):
            total += len(data) * 3 // 4 - data[-2:].count("=")
            if total > limit:
                raise HTTPException(413, [{"field": f"content.{index}.attachment.data",
                                           "message": f"pièce jointe trop volumineuse (au plus {limit} octets)"}])  # fmt: skip


@router.post(
    "/{patient}/entries", status_code=status.HTTP_201_CREATED, summary="Ajouter une entrée (ressource FHIR R4)"
)
def add_entry(
    patient: str,
    payload: Annotated[dict[str, Any], Body(description="Ressource FHIR R4 : DocumentReference, AllergyIntolerance, "
                                            "MedicationStatement, Condition, Immunization ou Observation")],
    session: SessionDep,
    principal: CurrentPrincipal,
    request: Request,
) -> EntryOut:  # fmt: skip
    _check_attachments(payload, request.app.state.limits.max_attachment_bytes)
    return EntryOut.of(
        service.add_entry(
            caller(session, principal),
            _patient(session, principal, patient, ResourceKind.RECORD_ENTRY, Action.WRITE),
            payload,
        )
    )


@router.get("/{patient}/entries", summary="Entrées visibles de l'appelant (les plus récentes d'abord)")
def list_entries(
    patient: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    offset: Offset = 0,
    limit: Limit = 50,
    resource_type: ResourceType | None = None,
    section: Literal["document", "profile"] | None = None,
) -> Page[EntryOut]:
    views, total = service.search_entries(
        caller(session, principal), _patient(session, principal, patient, ResourceKind.RECORD_ENTRY, Action.READ),
        resource_type=resource_type, section=section, offset=offset, limit=limit,
    )  # fmt: skip
    return Page(items=[EntryOut.of(v) for v in views], total=total, offset=offset, limit=limit)


@router.get("/{patient}/entries/{entry_id}", summary="Lire une entrée")
def read_entry(patient: str, entry_id: str, session: SessionDep, principal: CurrentPrincipal) -> EntryOut:
    return EntryOut.of(
        service.read_entry(
            caller(session, principal),
            _patient(session, principal, patient, ResourceKind.RECORD_ENTRY, Action.READ),
            entry_id,
        )
    )


@router.get(
    "/{patient}/export",
    summary="Export du dossier visible de l'appelant (Bundle FHIR)",
    response_class=FhirResponse,
    responses={200: {"content": {FHIR_JSON: {}}}},
)
def export(patient: str, request: Request, session: SessionDep, principal: CurrentPrincipal) -> FhirResponse:
    views = service.export(
        caller(session, principal), _patient(session, principal, patient, ResourceKind.RECORD_ENTRY, Action.READ)
    )
    base = str(request.base_url).rstrip("/") + "/fhir"
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": dt.datetime.now(dt.UTC).isoformat(),
            "entry": [
                {
                    "fullUrl": f"{base}/{v.entry.resource_type}/{v.entry.id}",
                    "resource": with_security_label(v.entry.resource, v.masked),
                }
                for v in views
            ]
            or None,
        }
    )
    return FhirResponse(to_json(bundle))


class FlagOut(BaseModel):
    rule: str
    text: str
    entries: list[str]
    parameters: list[dict[str, Any]]


@router.get("/{patient}/coherence", summary="Signalements de cohérence (doublons de traitement, examens répétés)")
def coherence(patient: str, session: SessionDep, principal: CurrentPrincipal) -> list[FlagOut]:
    flags = service.coherence(
        caller(session, principal), _patient(session, principal, patient, ResourceKind.RECORD_ENTRY, Action.READ)
    )
    return [FlagOut.model_validate(flag.to_dict()) for flag in flags]


# --- the patient's controls -----------------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MaskIn(_In):
    scope: MaskScope = Field(
        default="professionals",
        description="professionals : masqué aux professionnels sauf le médecin traitant ; representatives : "
        "tenu secret vis-à-vis des représentants légaux (patient mineur)",
    )


class Done(BaseModel):
    done: bool = True
    detail: str


@router.post("/{patient}/entries/{entry_id}/mask", summary="Masquer une entrée")
def mask(patient: str, entry_id: str, data: MaskIn, session: SessionDep, principal: CurrentPrincipal) -> Done:
    service.mask(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.RECORD_CONTROL, Action.WRITE),
        entry_id,
        data.scope,
    )
    return Done(detail="entrée masquée")


@router.delete("/{patient}/entries/{entry_id}/mask", summary="Démasquer une entrée")
def unmask(
    patient: str, entry_id: str, session: SessionDep, principal: CurrentPrincipal,
    scope: MaskScope = "professionals",
) -> Done:  # fmt: skip
    service.unmask(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.RECORD_CONTROL, Action.WRITE),
        entry_id,
        scope,
    )
    return Done(detail="masquage levé")


class ProfessionalIn(_In):
    rpps: str = Field(description="RPPS du professionnel")


@router.post("/{patient}/blocks", summary="Bloquer l'accès d'un professionnel au dossier")
def block(patient: str, data: ProfessionalIn, session: SessionDep, principal: CurrentPrincipal) -> Done:
    service.block(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.RECORD_CONTROL, Action.WRITE),
        data.rpps,
    )
    return Done(detail="professionnel bloqué")


@router.delete("/{patient}/blocks/{rpps}", summary="Débloquer un professionnel")
def unblock(patient: str, rpps: str, session: SessionDep, principal: CurrentPrincipal) -> Done:
    service.unblock(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.RECORD_CONTROL, Action.WRITE),
        rpps,
    )
    return Done(detail="blocage levé")


class OppositionIn(_In):
    emergency_access: bool = Field(description="true : le patient s'oppose à l'accès en urgence (bris de glace)")


@router.put("/{patient}/opposition", summary="S'opposer (ou non) à l'accès en urgence au dossier")
def opposition(patient: str, data: OppositionIn, session: SessionDep, principal: CurrentPrincipal) -> Done:
    service.set_emergency_opposition(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.RECORD_CONTROL, Action.WRITE),
        data.emergency_access,
    )
    return Done(detail="opposition enregistrée" if data.emergency_access else "opposition levée")


class NonOppositionIn(_In):
    rpps: str | None = Field(
        default=None, description="RPPS du professionnel autorisé (le professionnel qui atteste pour lui-même l'omet)"
    )


@router.post("/{patient}/non-oppositions", summary="Enregistrer la non-opposition du patient à un professionnel")
def non_opposition(patient: str, data: NonOppositionIn, session: SessionDep, principal: CurrentPrincipal) -> Done:
    service.record_non_opposition(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.NON_OPPOSITION, Action.WRITE),
        data.rpps,
    )
    return Done(detail="non-opposition enregistrée")


@router.delete("/{patient}/non-oppositions/{rpps}", summary="Retirer une non-opposition")
def revoke_non_opposition(patient: str, rpps: str, session: SessionDep, principal: CurrentPrincipal) -> Done:
    service.revoke_non_opposition(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.RECORD_CONTROL, Action.WRITE),
        rpps,
    )
    return Done(detail="non-opposition retirée")


class EmergencyIn(_In):
    reason: str = Field(min_length=5, max_length=2000, description="Motif de l'accès en urgence")


class EmergencyOut(BaseModel):
    id: str
    professional_rpps: str
    reason: str
    opened_at: dt.datetime
    expires_at: dt.datetime


@router.post(
    "/{patient}/emergency-access", status_code=status.HTTP_201_CREATED, summary="Accès en urgence (bris de glace)"
)
def emergency_access(patient: str, data: EmergencyIn, session: SessionDep, principal: CurrentPrincipal) -> EmergencyOut:
    row = service.open_emergency_access(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.EMERGENCY_ACCESS, Action.WRITE),
        data.reason,
    )
    return EmergencyOut.model_validate(row, from_attributes=True)


class RepresentativeIn(_In):
    nir: str = Field(description="NIR du parent ou tuteur")


@router.post("/{patient}/representatives", summary="Enregistrer un représentant légal (patient mineur)")
def add_representative(patient: str, data: RepresentativeIn, session: SessionDep, principal: CurrentPrincipal) -> Done:
    service.add_representative(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.PATIENT_FILE, Action.WRITE),
        data.nir,
    )
    return Done(detail="représentant légal enregistré")


@router.delete("/{patient}/representatives/{nir}", summary="Retirer un représentant légal")
def remove_representative(patient: str, nir: str, session: SessionDep, principal: CurrentPrincipal) -> Done:
    service.remove_representative(
        caller(session, principal), _patient(session, principal, patient, ResourceKind.PATIENT_FILE, Action.WRITE), nir
    )
    return Done(detail="représentant légal retiré")


class ControlsOut(BaseModel):
    masked_entries: list[dict[str, Any]]
    blocked_professionals: list[str]
    opposes_emergency_access: bool
    non_oppositions: list[str]
    emergency_accesses: list[EmergencyOut]
    representatives: list[str]


@router.get("/{patient}/controls", summary="Réglages du patient : masquages, blocages, oppositions, autorisations")
def controls(patient: str, session: SessionDep, principal: CurrentPrincipal) -> ControlsOut:
    found = service.controls(
        caller(session, principal), _patient(session, principal, patient, ResourceKind.RECORD_CONTROL, Action.READ)
    )
    return ControlsOut(
        masked_entries=[{"entry_id": m.entry_id, "scope": m.scope, "since": m.created_at} for m in found.masks],
        blocked_professionals=[b.professional_rpps for b in found.blocks],
        opposes_emergency_access=found.opposes_emergency_access,
        non_oppositions=[n.professional_rpps for n in found.non_oppositions],
        emergency_accesses=[EmergencyOut.model_validate(e, from_attributes=True) for e in found.emergency_accesses],
        representatives=[r.representative_nir for r in found.representatives],
    )


class AccessOut(BaseModel):
    sequence: int
    at: dt.datetime
    who: str
    actor: str
    role: str
    action: str
    operation: str
    resource_type: str | None
    resource_id: str | None
    allowed: bool
    ground: str
    emergency: bool
    reason: str | None
    detail: str | None
    entities: list[str] = Field(description="Entrées du dossier renvoyées par une recherche ou un export")


@router.get("/{patient}/access-history", summary="Qui a consulté ou alimenté le dossier, et quand")
def access_history(
    patient: str, session: SessionDep, principal: CurrentPrincipal, offset: Offset = 0,
    limit: Limit = 50,
) -> Page[AccessOut]:  # fmt: skip
    found = service.access_history(
        caller(session, principal),
        _patient(session, principal, patient, ResourceKind.ACCESS_HISTORY, Action.READ),
        offset=offset,
        limit=limit,
    )
    return Page(
        items=[AccessOut.model_validate(service.describe(e)) for e in found.entries],
        total=found.total,
        offset=offset,
        limit=limit,
    )


async def _invalid_entry(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EntryInvalidError)
    return JSONResponse({"detail": [error.to_dict() for error in exc.errors]}, status_code=422)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.add_exception_handler(EntryInvalidError, _invalid_entry)
