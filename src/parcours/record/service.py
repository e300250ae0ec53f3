"""The shared record's services: entries, the patient's controls, bris de glace, access history, coherence.

Every function takes a ``Caller`` and goes through ``guard.authorize`` before touching data, so each read and write
is decided by the one access-decision function and traced in the audit trail.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Exists, Select, String, bindparam, exists, select
from sqlalchemy.orm import Session

from parcours.care.errors import CareError, not_found
from parcours.record import audit_log
from parcours.record.access import Action, Basis, Decision, PatientFacts, Purpose, Resource, ResourceKind, decide
from parcours.record.audit import AuditEntry, Outcome
from parcours.record.coherence import CoherenceFlag, StoredEntry, coherence_flags
from parcours.record.entries import (
    ENTRY_KINDS,
    INS_NIR_SYSTEM,
    EntryError,
    PatientRef,
    author_identifier,
    entry_date,
    entry_title,
    prepare_entry,
)
from parcours.record.guard import Caller, authorize, draft_for, trace
from parcours.record.identity import Principal, Role
from parcours.rules.identifiers import validate_nir, validate_rpps
from parcours.rules.params import default_parameters
from parcours.store.models import Patient, Professional, new_id
from parcours.store.record import (
    EmergencyAccess,
    LegalRepresentative,
    NonOpposition,
    RecordBlock,
    RecordEntry,
    RecordMask,
    RecordOpposition,
)

MaskScope = Literal["professionals", "representatives"]
EMERGENCY_HOURS = "record.emergency_access_hours"
TITLE_LENGTH = 200


class EntryInvalidError(CareError):
    """A record entry that is not acceptable, naming its fields (HTTP 422)."""

    def __init__(self, error: EntryError) -> None:
        first = error.errors[0]
        super().__init__(first.field, first.message)
        self.errors = error.errors


# --- lookups ------------------------------------------------------------------------------------------------------


def find_patient(session: Session, reference: str) -> Patient:
    """A patient by their id, or by their NIR."""
    patient = session.get(Patient, reference)
    if patient is None:
        try:
            nir = validate_nir(reference)
        except ValueError:
            raise not_found("patient", "patient") from None
        patient = session.scalars(select(Patient).where(Patient.nir == nir)).one_or_none()
    if patient is None:
        raise not_found("patient", "patient")
    return patient


def patient_ref(patient: Patient) -> PatientRef:
    return PatientRef(patient.nir, patient.nir_system or INS_NIR_SYSTEM, f"{patient.given_name} {patient.family_name}")


def _professional(session: Session, rpps: str, field: str) -> Professional:
    try:
        rpps = validate_rpps(rpps)
    except ValueError as exc:
        raise CareError(field, str(exc)) from None
    professional = session.scalars(select(Professional).where(Professional.rpps == rpps)).one_or_none()
    if professional is None:
        raise CareError(field, f"aucun professionnel enregistré avec le RPPS {rpps}", "not_found")
    return professional


@dataclass(frozen=True, slots=True)
class EntryView:
    entry: RecordEntry
    masked: bool
    secret: bool  # hidden from the legal representatives


def _scopes(session: Session, entry_ids: Iterable[str]) -> dict[str, set[str]]:
    ids = list(entry_ids)
    scopes: dict[str, set[str]] = defaultdict(set)
    if ids:
        rows = session.execute(
            select(RecordMask.entry_id, RecordMask.scope).where(
                RecordMask.entry_id.in_(ids), RecordMask.lifted_at.is_(None)
            )
        )
        for entry_id, scope in rows:
            scopes[entry_id].add(scope)
    return scopes


def _resource_of(scopes: set[str]) -> Resource:
    return Resource(
        ResourceKind.RECORD_ENTRY,
        masked="professionals" in scopes,
        hidden_from_representatives="representatives" in scopes,
    )


def _visible(caller: Caller, facts: PatientFacts, rows: Iterable[Any]) -> list[EntryView]:
    """The entries the decision lets the caller read, of rows ``(entry, masked, secret)``."""
    visible = []
    for row, masked, secret in rows:
        resource = Resource(ResourceKind.RECORD_ENTRY, masked=bool(masked), hidden_from_representatives=bool(secret))
        if decide(caller.principal, facts, resource, Action.READ).allowed:
            visible.append(EntryView(row, bool(masked), bool(secret)))
    return visible


def _mask_in_force(scope: str) -> Exists:
    return exists().where(RecordMask.entry_id == RecordEntry.id, RecordMask.scope == scope,
                          RecordMask.lifted_at.is_(None))  # fmt: skip


@functools.cache
def _patient_entries() -> Select[RecordEntry, bool, bool]:
    """A patient's entries with their masks in force, one statement built once (bound parameter: the SQL is
    SQLAlchemy's cache hit rather than an expression tree built at every read)."""
    return select(
        RecordEntry, _mask_in_force("professionals").label("masked"), _mask_in_force("representatives").label("secret")
    ).where(RecordEntry.patient_id == bindparam("patient_id", type_=String()))


# --- entries ------------------------------------------------------------------------------------------------------


def add_entry(caller: Caller, patient: Patient, payload: Any, *, source: str | None = None) -> EntryView:
    entry_id = new_id()
    resource_type = payload.get("resourceType") if isinstance(payload, dict) else None
    authorize(
        caller, patient, Resource(ResourceKind.RECORD_ENTRY), Action.WRITE, "record.entry.create",
        resource_type=resource_type if resource_type in ENTRY_KINDS else None, resource_id=entry_id,
    )  # fmt: skip
    return _store_entry(caller, patient, payload, entry_id, source)


def _store_entry(caller: Caller, patient: Patient, payload: Any, entry_id: str, source: str | None) -> EntryView:
    try:
        kind, resource = prepare_entry(
            payload, entry_id=entry_id, patient=patient_ref(patient), author=caller.principal, now=caller.now
        )
    except EntryError as exc:
        raise EntryInvalidError(exc) from None
    row = RecordEntry(
        id=entry_id,
        patient_id=patient.id,
        resource_type=kind.resource_type,
        section=kind.section,
        status=resource.get("status"),
        title=entry_title(kind.resource_type, resource)[:TITLE_LENGTH],
        resource=resource,
        author_role=caller.principal.role.value,
        author_identifier=author_identifier(kind, resource) or caller.principal.identifier,
        entry_date=entry_date(kind, resource),
        recorded_at=caller.now,
        source=source,
    )
    caller.session.add(row)
    caller.session.flush()
    return EntryView(row, masked=False, secret=False)


def _patient_level(caller: Caller, patient: Patient) -> PatientFacts:
    """Refuse early (and trace it) when the caller may not read this record at all."""
    facts = caller.facts(patient)
    decision = decide(caller.principal, facts, Resource(ResourceKind.RECORD_ENTRY), Action.READ)
    if not decision.allowed:
        authorize(caller, patient, Resource(ResourceKind.RECORD_ENTRY), Action.READ, "record.entries.search",
                  facts=facts)  # fmt: skip
    return facts


@functools.cache
def _newest_first() -> Select[RecordEntry, bool, bool]:
    return _patient_entries().order_by(RecordEntry.entry_date.desc(), RecordEntry.id)


def search_entries(
    caller: Caller,
    patient: Patient,
    *,
    resource_type: str | None = None,
    section: str | None = None,
    offset: int = 0,
    limit: int = 50,
    operation: str = "record.entries.search",
    ids: Collection[str] | None = None,
    order_by: Sequence[Any] = (),
) -> tuple[list[EntryView], int]:
    """The entries the caller may see (among ``ids`` when given), in ``order_by`` then newest first; one audit entry
    for the search."""
    facts = _patient_level(caller, patient)
    query = _patient_entries()
    if ids is not None:
        query = query.where(RecordEntry.id.in_(sorted(ids)))
    if resource_type is not None:
        query = query.where(RecordEntry.resource_type == resource_type)
    if section is not None:
        query = query.where(RecordEntry.section == section)
    if ids is None and resource_type is None and section is None and not order_by:
        query = _newest_first()  # the usual read: built once too
    else:
        query = query.order_by(*order_by, RecordEntry.entry_date.desc(), RecordEntry.id)
    visible = _visible(caller, facts, caller.session.execute(query, {"patient_id": patient.id}))
    page = visible[offset : offset + limit]
    decision = decide(caller.principal, facts, Resource(ResourceKind.RECORD_ENTRY), Action.READ)
    # the patient must see which documents were read, not only how many
    trace(
        caller,
        draft_for(caller, decision, Action.READ, operation, patient_nir=patient.nir,
                  resource_type=resource_type or "Bundle",
                  detail=f"{len(page)} entrée(s) lue(s) sur {len(visible)} visible(s)",  # never what is hidden
                  entity_ids=tuple(f"{v.entry.resource_type}/{v.entry.id}" for v in page)),
    )  # fmt: skip
    return page, len(visible)


def read_entry(caller: Caller, patient: Patient, entry_id: str, *, operation: str = "record.entry.read") -> EntryView:
    row = caller.session.get(RecordEntry, entry_id)
    if row is None or row.patient_id != patient.id:
        raise not_found("entry_id", "entrée du dossier")
    scopes = _scopes(caller.session, [row.id]).get(row.id, set())
    authorize(caller, patient, _resource_of(scopes), Action.READ, operation,
              resource_type=row.resource_type, resource_id=row.id)  # fmt: skip
    return EntryView(row, "professionals" in scopes, "representatives" in scopes)


def export(caller: Caller, patient: Patient) -> list[EntryView]:
    entries, _ = search_entries(caller, patient, offset=0, limit=10**9, operation="record.export")
    return entries


def coherence(caller: Caller, patient: Patient) -> list[CoherenceFlag]:
    """Flags over the entries the caller may see (a flag never reveals a masked entry)."""
    entries, _ = search_entries(caller, patient, section="profile", limit=10**9, operation="record.coherence.read")
    documents, _ = search_entries(
        caller, patient, resource_type="DocumentReference", limit=10**9, operation="record.coherence.read"
    )
    stored = [StoredEntry(v.entry.id, v.entry.resource_type, v.entry.resource) for v in [*entries, *documents]]
    return coherence_flags(stored, default_parameters().at(caller.now.date()))


# --- the patient's controls -----------------------------------------------------------------------------------------


def _control(caller: Caller, patient: Patient, operation: str, *, secret: bool = False, detail: str | None = None,
             resource_id: str | None = None, action: Action = Action.WRITE) -> Decision:  # fmt: skip
    return authorize(
        caller, patient, Resource(ResourceKind.RECORD_CONTROL, hidden_from_representatives=secret), action, operation,
        resource_type="RecordControl", resource_id=resource_id, detail=detail,
    )  # fmt: skip


def mask(caller: Caller, patient: Patient, entry_id: str, scope: MaskScope = "professionals") -> RecordMask:
    entry = caller.session.get(RecordEntry, entry_id)
    if entry is None or entry.patient_id != patient.id:
        raise not_found("entry_id", "entrée du dossier")
    _control(caller, patient, "record.mask.create", secret=scope == "representatives", resource_id=entry_id,
             detail=_SCOPE_FR[scope])  # fmt: skip
    active = caller.session.scalars(
        select(RecordMask).where(
            RecordMask.entry_id == entry_id, RecordMask.scope == scope, RecordMask.lifted_at.is_(None)
        )
    ).one_or_none()
    if active is not None:
        return active
    row = RecordMask(entry_id=entry_id, patient_id=patient.id, scope=scope, created_at=caller.now,
                     created_by=caller.principal.actor)  # fmt: skip
    caller.session.add(row)
    caller.session.flush()
    return row


def unmask(caller: Caller, patient: Patient, entry_id: str, scope: MaskScope = "professionals") -> None:
    _control(caller, patient, "record.mask.delete", secret=scope == "representatives", resource_id=entry_id,
             detail=_SCOPE_FR[scope])  # fmt: skip
    active = caller.session.scalars(
        select(RecordMask).where(
            RecordMask.entry_id == entry_id,
            RecordMask.patient_id == patient.id,
            RecordMask.scope == scope,
            RecordMask.lifted_at.is_(None),
        )
    ).one_or_none()
    if active is None:
        raise not_found("entry_id", "masquage")
    active.lifted_at, active.lifted_by = caller.now, caller.principal.actor
    caller.session.flush()


def block(caller: Caller, patient: Patient, rpps: str) -> RecordBlock:
    professional = _professional(caller.session, rpps, "rpps")
    _control(caller, patient, "record.block.create", resource_id=professional.rpps,
             detail=f"blocage de {professional.given_name} {professional.family_name}")  # fmt: skip
    active = _active_block(caller.session, patient, professional.rpps)
    if active is not None:
        return active
    row = RecordBlock(patient_id=patient.id, professional_rpps=professional.rpps, created_at=caller.now,
                      created_by=caller.principal.actor)  # fmt: skip
    caller.session.add(row)
    caller.session.flush()
    return row


def _active_block(session: Session, patient: Patient, rpps: str) -> RecordBlock | None:
    return session.scalars(
        select(RecordBlock).where(
            RecordBlock.patient_id == patient.id, RecordBlock.professional_rpps == rpps, RecordBlock.lifted_at.is_(None)
        )
    ).one_or_none()


def unblock(caller: Caller, patient: Patient, rpps: str) -> None:
    _control(caller, patient, "record.block.delete", resource_id=rpps)
    active = _active_block(caller.session, patient, rpps)
    if active is None:
        raise not_found("rpps", "blocage")
    active.lifted_at, active.lifted_by = caller.now, caller.principal.actor
    caller.session.flush()


def set_emergency_opposition(caller: Caller, patient: Patient, opposed: bool) -> bool:
    _control(caller, patient, "record.opposition.update",
             detail="opposition à l'accès en urgence" if opposed else "levée de l'opposition à l'accès en urgence")  # fmt: skip
    active = caller.session.scalars(
        select(RecordOpposition).where(
            RecordOpposition.patient_id == patient.id,
            RecordOpposition.scope == "emergency_access",
            RecordOpposition.lifted_at.is_(None),
        )
    ).one_or_none()
    if opposed and active is None:
        caller.session.add(RecordOpposition(patient_id=patient.id, scope="emergency_access", created_at=caller.now,
                                            created_by=caller.principal.actor))  # fmt: skip
    elif not opposed and active is not None:
        active.lifted_at, active.lifted_by = caller.now, caller.principal.actor
    caller.session.flush()
    return opposed


def record_non_opposition(caller: Caller, patient: Patient, rpps: str | None) -> NonOpposition:
    """The patient allows a professional, or a professional attests the patient's non-opposition for themselves."""
    if rpps is None:
        if caller.principal.rpps is None:
            raise CareError("rpps", "indiquer le RPPS du professionnel autorisé")
        rpps = caller.principal.rpps
    professional = _professional(caller.session, rpps, "rpps")
    authorize(
        caller, patient, Resource(ResourceKind.NON_OPPOSITION, acting_professional=professional.rpps), Action.WRITE,
        "record.non_opposition.create", resource_type="RecordControl", resource_id=professional.rpps,
    )  # fmt: skip
    active = _active_non_opposition(caller.session, patient, professional.rpps)
    if active is not None:
        return active
    row = NonOpposition(patient_id=patient.id, professional_rpps=professional.rpps, created_at=caller.now,
                        created_by=caller.principal.actor)  # fmt: skip
    caller.session.add(row)
    caller.session.flush()
    return row


def _active_non_opposition(session: Session, patient: Patient, rpps: str) -> NonOpposition | None:
    return session.scalars(
        select(NonOpposition).where(
            NonOpposition.patient_id == patient.id,
            NonOpposition.professional_rpps == rpps,
            NonOpposition.lifted_at.is_(None),
        )
    ).one_or_none()


def revoke_non_opposition(caller: Caller, patient: Patient, rpps: str) -> None:
    _control(caller, patient, "record.non_opposition.delete", resource_id=rpps)
    active = _active_non_opposition(caller.session, patient, rpps)
    if active is None:
        raise not_found("rpps", "non-opposition")
    active.lifted_at, active.lifted_by = caller.now, caller.principal.actor
    caller.session.flush()


def open_emergency_access(caller: Caller, patient: Patient, reason: str) -> EmergencyAccess:
    """Bris de glace: allowed with a reason unless the patient opposed it; traced with the reason."""
    decision = authorize(caller, patient, Resource(ResourceKind.EMERGENCY_ACCESS), Action.WRITE,
                         "record.emergency_access.create", resource_type="RecordControl", reason=reason)  # fmt: skip
    assert caller.principal.rpps is not None
    assert decision.reason is not None
    hours = default_parameters().at(caller.now.date())[EMERGENCY_HOURS]
    row = EmergencyAccess(patient_id=patient.id, professional_rpps=caller.principal.rpps, reason=decision.reason,
                          opened_at=caller.now, expires_at=caller.now + dt.timedelta(hours=hours))  # fmt: skip
    caller.session.add(row)
    caller.session.flush()
    return row


def add_representative(caller: Caller, patient: Patient, nir: str) -> LegalRepresentative:
    try:
        nir = validate_nir(nir)
    except ValueError as exc:
        raise CareError("nir", str(exc)) from None
    if nir == patient.nir:
        raise CareError("nir", "un patient n'est pas son propre représentant légal")
    authorize(caller, patient, Resource(ResourceKind.PATIENT_FILE), Action.WRITE, "record.representative.create",
              resource_type="RelatedPerson", resource_id=nir)  # fmt: skip
    active = caller.session.scalars(
        select(LegalRepresentative).where(
            LegalRepresentative.patient_id == patient.id,
            LegalRepresentative.representative_nir == nir,
            LegalRepresentative.lifted_at.is_(None),
        )
    ).one_or_none()
    if active is not None:
        return active
    row = LegalRepresentative(patient_id=patient.id, representative_nir=nir, created_at=caller.now,
                              created_by=caller.principal.actor)  # fmt: skip
    caller.session.add(row)
    caller.session.flush()
    return row


def remove_representative(caller: Caller, patient: Patient, nir: str) -> None:
    authorize(caller, patient, Resource(ResourceKind.PATIENT_FILE), Action.WRITE, "record.representative.delete",
              resource_type="RelatedPerson", resource_id=nir)  # fmt: skip
    active = caller.session.scalars(
        select(LegalRepresentative).where(
            LegalRepresentative.patient_id == patient.id,
            LegalRepresentative.representative_nir == nir,
            LegalRepresentative.lifted_at.is_(None),
        )
    ).one_or_none()
    if active is None:
        raise not_found("nir", "représentant légal")
    active.lifted_at, active.lifted_by = caller.now, caller.principal.actor
    caller.session.flush()


@dataclass(frozen=True, slots=True)
class Controls:
    masks: list[RecordMask]
    blocks: list[RecordBlock]
    opposes_emergency_access: bool
    non_oppositions: list[NonOpposition]
    emergency_accesses: list[EmergencyAccess]
    representatives: list[LegalRepresentative]


def controls(caller: Caller, patient: Patient) -> Controls:
    _control(caller, patient, "record.controls.read", action=Action.READ)
    session = caller.session
    masks = list(session.scalars(select(RecordMask).where(RecordMask.patient_id == patient.id,
                                                          RecordMask.lifted_at.is_(None))))  # fmt: skip
    if caller.principal.nir != patient.nir:  # a parent does not see the minor's secrets
        masks = [m for m in masks if m.scope != "representatives"]
    return Controls(
        masks=masks,
        blocks=list(session.scalars(select(RecordBlock).where(RecordBlock.patient_id == patient.id,
                                                              RecordBlock.lifted_at.is_(None)))),
        opposes_emergency_access=session.scalars(
            select(RecordOpposition).where(RecordOpposition.patient_id == patient.id,
                                           RecordOpposition.lifted_at.is_(None))
        ).first() is not None,
        non_oppositions=list(session.scalars(select(NonOpposition).where(NonOpposition.patient_id == patient.id,
                                                                         NonOpposition.lifted_at.is_(None)))),
        emergency_accesses=list(session.scalars(select(EmergencyAccess).where(EmergencyAccess.patient_id == patient.id)
                                                .order_by(EmergencyAccess.opened_at.desc()))),
        representatives=list(session.scalars(select(LegalRepresentative).where(
            LegalRepresentative.patient_id == patient.id, LegalRepresentative.lifted_at.is_(None)))),
    )  # fmt: skip


def access_history(caller: Caller, patient: Patient, *, offset: int = 0, limit: int = 50) -> audit_log.EntriesPage:
    """Everyone who read or wrote the patient's record (or tried), when, why: the patient's view of the trail."""
    authorize(caller, patient, Resource(ResourceKind.ACCESS_HISTORY), Action.READ, "record.history.read",
              resource_type="AuditEvent")  # fmt: skip
    return audit_log.entries(caller.session, patient_nir=patient.nir, offset=offset, limit=limit,
                             hidden=hidden_from(caller, patient))  # fmt: skip


def hidden_from(caller: Caller, patient: Patient) -> audit_log.Hidden | None:
    """What the caller's view of the access history leaves out: for a legal representative, every trace of what
    the minor keeps secret from them (the entries, who read them, the masking itself). None for anyone else."""
    if caller.principal.nir is None or caller.principal.nir == patient.nir:
        return None
    secret = caller.session.scalars(
        select(RecordMask.entry_id).where(RecordMask.patient_id == patient.id, RecordMask.scope == "representatives")
    )
    return audit_log.Hidden(resource_ids=frozenset(secret), details=frozenset({_SCOPE_FR["representatives"]}))


# --- documents that land in the record automatically ---------------------------------------------------------------

LOINC = "http://loinc.org"
CONSULTATION_REPORT = ("11488-4", "CR ou fiche de consultation ou de visite")
TELEMEDICINE_REPORT = ("85208-7", "CR de télémédecine")


def land_document(
    session: Session,
    patient: Patient,
    author: Professional,
    *,
    source: str,
    document_type: tuple[str, str],
    description: str,
    text: str,
    related: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> RecordEntry | None:
    """File a report produced by the coordination services in the record, authored by the professional who wrote
    it. Idempotent by ``source``. A professional the patient blocked does not feed the record: the refusal is
    traced and the coordination goes on."""
    existing = session.scalars(select(RecordEntry).where(RecordEntry.source == source)).one_or_none()
    if existing is not None:
        return existing
    principal = Principal(Role.PROFESSIONAL, author.rpps, display_name=f"{author.given_name} {author.family_name}")
    caller = Caller(session, principal, at or dt.datetime.now(dt.UTC))
    entry_id = new_id()
    facts = caller.facts(patient)
    decision = decide(principal, facts, Resource(ResourceKind.RECORD_ENTRY), Action.WRITE)
    draft = draft_for(caller, decision, Action.WRITE, "record.entry.create", patient_nir=patient.nir,
                      resource_type="DocumentReference", resource_id=entry_id, detail=f"dépôt automatique ({source})")  # fmt: skip
    trace(caller, draft)
    if not decision.allowed:
        return None
    payload: dict[str, Any] = {
        "resourceType": "DocumentReference",
        "status": "current",
        "type": {"coding": [{"system": LOINC, "code": document_type[0], "display": document_type[1]}]},
        "description": description,
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=utf-8",
                    "language": "fr",
                    "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                    "title": description,
                }
            }
        ],
    }
    if related is not None:
        payload["context"] = {"related": [related]}
    return _store_entry(caller, patient, payload, entry_id, source).entry


# --- the clinical text of coordination items -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TextItem:
    """A referral or a téléexpertise whose clinical text (reason or question; report or answer) is record data."""

    patient: Patient
    resource_type: str  # "ServiceRequest"
    item_id: str
    named: frozenset[
        str
    ]  # the professionals who wrote or were sent the text (referrer and target, requester and expert)
    source: str  # the source of the report or answer that landed in the record ("referral:<id>")
    reference: str  # as the audit trail names it: "ServiceRequest/referral-<id>"


@dataclass(frozen=True, slots=True)
class Disclosure:
    """Which texts of one item the caller is served; ``note`` says why some are left out (French)."""

    request: bool
    result: bool
    note: str | None = None


def clinical_texts(caller: Caller, items: list[TextItem], operation: str) -> dict[str, Disclosure]:
    """Decide, for each item, whether the caller is served its clinical texts, with the record's rules (masks,
    blocks, a minor's secrets), and trace the reads: one audit entry per patient naming the items served, and one
    per item withheld. The professionals named on an item wrote or received its text; blocked, they get nothing."""
    facts_of: dict[str, PatientFacts] = {}
    sources = {item.source for item in items}
    landed: dict[str | None, str] = {}
    if sources:
        query = select(RecordEntry.source, RecordEntry.id).where(RecordEntry.source.in_(sorted(sources)))
        landed = dict(caller.session.execute(query).all())
    scopes = _scopes(caller.session, landed.values())
    served: dict[str, list[TextItem]] = defaultdict(list)
    grounds: dict[str, Decision] = {}
    result: dict[str, Disclosure] = {}
    rpps = caller.principal.rpps
    for item in items:
        patient = item.patient
        facts = facts_of.get(patient.id) or facts_of.setdefault(patient.id, caller.facts(patient))
        mine = scopes.get(landed.get(item.source, ""), set())
        if rpps is not None and rpps in item.named and rpps not in facts.blocked:
            request = result_ = Decision(True, Basis.ACTING_PROFESSIONAL, Purpose.CARE)
        else:
            request = decide(caller.principal, facts, Resource(ResourceKind.RECORD_ENTRY), Action.READ)
            result_ = decide(caller.principal, facts, _resource_of(mine), Action.READ)
        refused = next((d for d in (request, result_) if not d.allowed), None)
        note = None
        if refused is not None and refused.basis is not Basis.HIDDEN_FROM_REPRESENTATIVES:
            note = f"texte clinique non communiqué : {refused.explanation}"
        result[item.item_id] = Disclosure(request.allowed, result_.allowed, note)
        if request.allowed or result_.allowed:
            served[patient.id].append(item)
            grounds[patient.id] = request if request.allowed else result_
        if refused is not None:
            # a minor's secret is traced on the secret entry itself, which their parents' view leaves out
            secret = refused.basis is Basis.HIDDEN_FROM_REPRESENTATIVES
            trace(caller, draft_for(caller, refused, Action.READ, operation, patient_nir=patient.nir,
                                    resource_type="DocumentReference" if secret else item.resource_type,
                                    resource_id=landed.get(item.source) if secret else item.item_id,
                                    detail="texte clinique retenu"))  # fmt: skip
    for patient_id, shown in served.items():
        patient = shown[0].patient
        single = shown[0].item_id if len(shown) == 1 else None
        trace(caller, draft_for(caller, grounds[patient_id], Action.READ, operation, patient_nir=patient.nir,
                                resource_type=shown[0].resource_type, resource_id=single,
                                detail=f"texte clinique de {len(shown)} demande(s)",
                                entity_ids=tuple(i.reference for i in shown)))  # fmt: skip
    return result


# --- views for the history ------------------------------------------------------------------------------------------

_SCOPE_FR = {"professionals": "masqué aux professionnels (sauf le médecin traitant)",
             "representatives": "tenu secret vis-à-vis des représentants légaux"}  # fmt: skip


def describe(entry: AuditEntry) -> dict[str, Any]:
    """One line of the access history as the patient reads it."""
    try:
        explanation = Decision(entry.outcome is Outcome.ALLOWED, Basis(entry.basis), Purpose(entry.purpose)).explanation
    except ValueError:
        explanation = entry.basis
    return {
        "sequence": entry.sequence,
        "at": entry.recorded_at,
        "who": entry.actor_name or entry.actor,
        "actor": entry.actor,
        "role": entry.actor_role,
        "action": entry.action,
        "operation": entry.operation,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "allowed": entry.outcome is Outcome.ALLOWED,
        "ground": explanation,
        "emergency": entry.basis == Basis.EMERGENCY.value,
        "reason": entry.reason,
        "detail": entry.detail,
        "entities": list(entry.entity_ids),
    }
