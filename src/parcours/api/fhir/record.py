"""FHIR views of the shared record: the six entry types and the audit trail as ``AuditEvent``.

Reads and searches go through the record services, hence through the access decision and into the audit trail,
like the JSON API: the FHIR door is not a way around consent. A masked document is served with the ``R``
(restricted) confidentiality label to the few who may see it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.resource import Resource as FhirResource
from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.api.fhir.audit_event import NamedPatient, audit_event
from parcours.api.fhir.rest import FhirError, Page, SearchParameter, SearchQuery
from parcours.care.errors import CareError
from parcours.record import audit_log, service
from parcours.record.access import Action, Resource, ResourceKind
from parcours.record.audit import AuditEntry
from parcours.record.entries import ENTRY_KINDS, EntryKind, with_security_label
from parcours.record.guard import Caller, authorize, refuse_unknown_patient
from parcours.record.identity import Principal
from parcours.store.models import Patient
from parcours.store.record import RecordEntry

PATIENT_PARAM = SearchParameter(
    "patient", "reference", "Patient concerné (Patient/id) ; par défaut, le patient appelant"
)
ID_PARAM = SearchParameter("_id", "token", "Identifiant logique de la ressource (plusieurs séparés par des virgules)")


class _Context(Protocol):
    """What the providers need from the FHIR server's context (session and caller)."""

    @property
    def session(self) -> Session: ...

    @property
    def principal(self) -> Principal: ...


def _patient_of_search(ctx: _Context, query: SearchQuery, kind: ResourceKind = ResourceKind.RECORD_ENTRY) -> Patient:
    reference = query.reference("patient", "Patient")
    if reference is None:
        if ctx.principal.nir is None:
            raise FhirError(400, "required", "Paramètre patient requis (Patient/id)", expression="patient")
        reference = ctx.principal.nir
    try:
        return service.find_patient(ctx.session, reference)
    except CareError:
        # refused like a patient the caller has nothing to do with: identifiers cannot be tried
        refuse_unknown_patient(Caller.of(ctx.session, ctx.principal), Resource(kind), Action.READ, "fhir.search")
        raise FhirError(404, "not-found", f"Patient/{reference} introuvable", expression="patient") from None


class RecordEntryProvider:
    def __init__(self, kind: EntryKind) -> None:
        self.kind = kind
        self.resource_type: str = kind.resource_type
        self.profile: str | None = None
        self.search_parameters: Sequence[SearchParameter] = (ID_PARAM, PATIENT_PARAM)
        self.sort_parameters = ("_id", "date")  # date: the entry's date (recorded, issued, administered…)
        self.versioned = True  # meta.versionId: vread, ETag

    def _resource(self, view: service.EntryView) -> FhirResource:
        return self.kind.model.model_validate(with_security_label(view.entry.resource, view.masked))

    def read(self, ctx: _Context, resource_id: str) -> FhirResource | None:
        row = ctx.session.get(RecordEntry, resource_id)
        if row is None or row.resource_type != self.resource_type:
            return None
        patient = ctx.session.get(Patient, row.patient_id)
        assert patient is not None
        caller = Caller.of(ctx.session, ctx.principal)
        return self._resource(service.read_entry(caller, patient, row.id, operation=f"fhir.{self.resource_type}.read"))

    def search(self, ctx: _Context, query: SearchQuery) -> Page:
        patient = _patient_of_search(ctx, query)
        caller = Caller.of(ctx.session, ctx.principal)
        columns = {"_id": RecordEntry.id, "date": RecordEntry.entry_date}
        views, total = service.search_entries(
            caller, patient, resource_type=self.resource_type, offset=query.offset, limit=query.count,
            operation=f"fhir.{self.resource_type}.search", ids=query.ids(),
            order_by=[columns[k.name].desc() if k.descending else columns[k.name] for k in query.sort],
        )  # fmt: skip
        return Page([self._resource(v) for v in views], total)


def _date_bound(value: str) -> tuple[str, dt.datetime]:
    prefix = value[:2] if value[:2] in ("ge", "gt", "le", "lt", "eq") else "eq"
    raw = value[2:] if value[:2] == prefix else value
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise FhirError(400, "invalid", f"Paramètre date invalide : {value}", expression="date") from None
    return prefix, moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _patients_named(session: Session, entries: Sequence[AuditEntry]) -> dict[str, NamedPatient]:
    """The patients these entries name, by NIR: their FHIR id and their INS OID (one query)."""
    nirs = sorted({e.patient_nir for e in entries if e.patient_nir})
    if not nirs:
        return {}
    rows = session.execute(select(Patient.nir, Patient.id, Patient.nir_system).where(Patient.nir.in_(nirs))).all()
    return {nir: NamedPatient(patient_id, system) for nir, patient_id, system in rows}


class AuditEventProvider:
    """The audit trail: a patient (or parent) sees the events of their own record; an administrator sees all."""

    resource_type: str = "AuditEvent"
    profile: str | None = None  # modelled on the ANS TDEAuditEvent (draft, no stable canonical URL yet)
    search_parameters: Sequence[SearchParameter] = (
        ID_PARAM,
        SearchParameter("patient", "reference", "Patient concerné (Patient/id)"),
        SearchParameter("date", "date", "Période de l'événement : geAAAA-MM-JJ, leAAAA-MM-JJ…"),
    )
    sort_parameters = ("_id", "date")  # the sequence follows the time of recording: both keys give one order

    def read(self, ctx: _Context, resource_id: str) -> FhirResource | None:
        if not resource_id.isdigit():
            return None
        entry = audit_log.entry(ctx.session, int(resource_id))
        if entry is None:
            return None
        caller = Caller.of(ctx.session, ctx.principal)
        patient = None
        if entry.patient_nir is not None:
            patient = ctx.session.scalars(select(Patient).where(Patient.nir == entry.patient_nir)).one_or_none()
        if patient is not None and ctx.principal.role.value != "administrator":
            authorize(caller, patient, Resource(ResourceKind.ACCESS_HISTORY), Action.READ, "fhir.AuditEvent.read",
                      resource_type="AuditEvent", resource_id=resource_id)  # fmt: skip
            hidden = service.hidden_from(caller, patient)
            if hidden is not None:
                if hidden.hides(entry):
                    return None  # kept secret from a legal representative: as if it did not exist
                entry = hidden.strip(entry)
        else:
            authorize(caller, None, Resource(ResourceKind.AUDIT_LOG), Action.READ, "fhir.AuditEvent.read",
                      resource_type="AuditEvent", resource_id=resource_id)  # fmt: skip
        return AuditEvent.model_validate(audit_event(entry, _patients_named(ctx.session, [entry])))

    def search(self, ctx: _Context, query: SearchQuery) -> Page:
        caller = Caller.of(ctx.session, ctx.principal)
        nir: str | None = None
        hidden = None
        if query.first("patient") is not None or ctx.principal.nir is not None:
            patient = _patient_of_search(ctx, query, ResourceKind.ACCESS_HISTORY)
            authorize(caller, patient, Resource(ResourceKind.ACCESS_HISTORY), Action.READ, "fhir.AuditEvent.search",
                      resource_type="AuditEvent")  # fmt: skip
            nir = patient.nir
            hidden = service.hidden_from(caller, patient)
        else:
            authorize(caller, None, Resource(ResourceKind.AUDIT_LOG), Action.READ, "fhir.AuditEvent.search",
                      resource_type="AuditEvent")  # fmt: skip
        since = until = None
        for value in query.params.get("date", ()):
            prefix, moment = _date_bound(value)
            if prefix in ("ge", "gt", "eq"):
                since = moment
            if prefix in ("le", "lt", "eq"):
                until = moment if prefix != "eq" else moment + dt.timedelta(days=1)
        found = audit_log.entries(
            ctx.session,
            patient_nir=nir,
            since=since,
            until=until,
            offset=query.offset,
            limit=query.count,
            hidden=hidden,
            newest_first=not query.sort or query.sort[0].descending,
            sequences=None if (ids := query.ids()) is None else {int(i) for i in ids if i.isdigit()},
        )
        named = _patients_named(ctx.session, found.entries)
        return Page([AuditEvent.model_validate(audit_event(e, named)) for e in found.entries], found.total)


def record_providers() -> list[RecordEntryProvider | AuditEventProvider]:
    return [*(RecordEntryProvider(kind) for kind in ENTRY_KINDS.values()), AuditEventProvider()]
