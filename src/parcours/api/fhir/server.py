"""The FHIR resources parcours serves at ``/fhir``, each read from the coordination store."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from fhir.resources.R4B.resource import Resource
from sqlalchemy import ColumnElement, Date, Select, String, bindparam, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from parcours.api import authz
from parcours.api.deps import get_session
from parcours.api.fhir import mappings
from parcours.api.fhir.record import record_providers
from parcours.api.fhir.rest import FhirError, FhirServer, Page, ResourceProvider, SearchParameter, SearchQuery
from parcours.api.security import CurrentPrincipal
from parcours.care import teleexpertise
from parcours.care.claims import complementary_share
from parcours.care.common import today
from parcours.care.declarations import in_force
from parcours.record.access import Action, ResourceKind
from parcours.record.access import Resource as ResourceAccess
from parcours.record.entries import INS_NIR_SYSTEM, NIR_SYSTEMS, RPPS_SYSTEM
from parcours.record.guard import Caller, refuse_unknown_patient
from parcours.record.identity import Principal, Role
from parcours.record.service import Disclosure
from parcours.store.models import Claim, GpDeclaration, Patient, Professional, Referral, Teleexpertise


@dataclass(frozen=True)
class FhirContext:
    session: Session
    principal: Principal


def fhir_context(
    session: Annotated[Session, Depends(get_session, scope="function")], principal: CurrentPrincipal
) -> FhirContext:
    return FhirContext(session, principal)


def _page(session: Session, query: Select[Any], search: SearchQuery) -> tuple[list[Any], int]:
    rows = list(session.scalars(query.offset(search.offset).limit(search.count)))
    if len(rows) < search.count and (rows or search.offset == 0):
        return rows, search.offset + len(rows)  # the last page: the total without counting again
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return rows, total


PATIENT_PARAM = SearchParameter("patient", "reference", "Patient concerné (Patient/id)")
ID_PARAM = SearchParameter("_id", "token", "Identifiant logique de la ressource (plusieurs séparés par des virgules)")


def _by_ids(statement: Select[Any], column: Any, query: SearchQuery) -> Select[Any]:
    ids = query.ids()
    return statement if ids is None else statement.where(column.in_(sorted(ids)))


def _ordered(
    statement: Select[Any], query: SearchQuery, columns: dict[str, Any], default: Sequence[Any]
) -> Select[Any]:
    """``_sort`` on the keys the provider declared, then its usual order (which ends with the id: a stable page)."""
    chosen = [columns[key.name].desc() if key.descending else columns[key.name] for key in query.sort]
    return statement.order_by(*chosen, *default)


@functools.cache
def _gp_statement() -> Select[Professional]:
    """The médecin traitant of a patient on a day: the declaration and its professional joined, one statement built
    once (bound parameters)."""
    return (
        select(Professional)
        .join(GpDeclaration, GpDeclaration.professional_id == Professional.id)
        .where(GpDeclaration.patient_id == bindparam("patient_id", type_=String()),
               in_force(bindparam("on", type_=Date())))
        .order_by(GpDeclaration.start.desc())
        .limit(1)
    )  # fmt: skip


def _gp_on(session: Session, patient_id: str, on: dt.date) -> Professional | None:
    """``declarations.gp_on`` in one statement."""
    return session.scalars(_gp_statement(), {"patient_id": patient_id, "on": on}).one_or_none()


class PatientProvider:
    resource_type: str = "Patient"
    profile: str | None = f"{mappings.FR_CORE}/fr-core-patient"
    sort_parameters = ("_id", "family", "given", "birthdate")
    search_parameters: Sequence[SearchParameter] = (
        ID_PARAM,
        SearchParameter("identifier", "token", "INS-NIR : système|valeur (OID INS-NIR, ou OID de test/démo)"),
        SearchParameter("general-practitioner", "reference", "Médecin traitant actuel (Practitioner/id)"),
        SearchParameter("family", "string", "Nom de famille (début)"),
    )

    def _resource(self, session: Session, patient: Patient) -> Resource:
        return mappings.patient_resource(patient, _gp_on(session, patient.id, today()))

    def read(self, ctx: FhirContext, resource_id: str) -> Resource | None:
        patient = ctx.session.get(Patient, resource_id)
        if patient is None:  # refused like someone else's file, unless the caller may see any patient
            refuse_unknown_patient(Caller.of(ctx.session, ctx.principal), ResourceAccess(ResourceKind.PATIENT_FILE),
                                   Action.READ, "fhir.Patient.read")  # fmt: skip
            return None
        authz.patient_file(ctx.session, ctx.principal, patient.id, "fhir.Patient.read")
        return self._resource(ctx.session, patient)

    def search(self, ctx: FhirContext, query: SearchQuery) -> Page:
        statement = authz.visible_patients(select(Patient), ctx.principal)
        token = query.token("identifier")
        if token is not None:
            if token.system is not None and token.system not in NIR_SYSTEMS:
                return Page([], 0)
            statement = statement.where(Patient.nir == token.code)
            if token.system is not None:
                statement = statement.where(func.coalesce(Patient.nir_system, INS_NIR_SYSTEM) == token.system)
        gp = query.reference("general-practitioner", "Practitioner")
        if gp is not None:
            statement = statement.where(
                exists()
                .where(GpDeclaration.patient_id == Patient.id, GpDeclaration.professional_id == gp, in_force(today()))
                .correlate(Patient)
            )
        family = query.first("family")
        if family:
            statement = statement.where(func.lower(Patient.family_name).startswith(family.lower()))
        statement = _by_ids(statement, Patient.id, query)
        sorts = {"_id": Patient.id, "family": Patient.family_name, "given": Patient.given_name,
                 "birthdate": Patient.birth_date}  # fmt: skip
        rows, total = _page(ctx.session, _ordered(statement, query, sorts, (Patient.family_name, Patient.id)), query)
        return Page([self._resource(ctx.session, p) for p in rows], total)


def _professional_by_identifier(statement: Select[Any], query: SearchQuery) -> Select[Any] | None:
    token = query.token("identifier")
    if token is None:
        return statement
    if token.system in (None, RPPS_SYSTEM):
        return statement.where(Professional.rpps == token.code)
    if token.system == mappings.IDNPS_SYSTEM and token.code.startswith("8"):
        return statement.where(Professional.rpps == token.code[1:])
    return None


def _professionals_ordered(statement: Select[Any], query: SearchQuery) -> Select[Any]:
    sorts = {"_id": Professional.id, "family": Professional.family_name, "given": Professional.given_name}
    return _ordered(statement, query, sorts, (Professional.family_name, Professional.id))


class PractitionerProvider:
    resource_type: str = "Practitioner"
    profile: str | None = f"{mappings.FR_CORE}/fr-core-practitioner"
    sort_parameters = ("_id", "family", "given")
    search_parameters: Sequence[SearchParameter] = (
        ID_PARAM,
        SearchParameter("identifier", "token", "RPPS (https://rpps.esante.gouv.fr) ou IDNPS (8+RPPS)"),
    )

    def read(self, ctx: FhirContext, resource_id: str) -> Resource | None:
        professional = ctx.session.get(Professional, resource_id)
        return mappings.practitioner_resource(professional) if professional else None

    def search(self, ctx: FhirContext, query: SearchQuery) -> Page:
        statement = _professional_by_identifier(select(Professional), query)
        if statement is None:
            return Page([], 0)
        rows, total = _page(
            ctx.session, _professionals_ordered(_by_ids(statement, Professional.id, query), query), query
        )
        return Page([mappings.practitioner_resource(p) for p in rows], total)


class PractitionerRoleProvider:
    resource_type: str = "PractitionerRole"
    profile: str | None = f"{mappings.FR_CORE}/fr-core-practitioner-role"
    sort_parameters = ("_id", "family", "given")
    search_parameters: Sequence[SearchParameter] = (
        ID_PARAM,
        SearchParameter("practitioner", "reference", "Practitioner/id"),
        SearchParameter("specialty", "token", "Spécialité (code parcours)"),
    )

    def read(self, ctx: FhirContext, resource_id: str) -> Resource | None:
        professional = ctx.session.get(Professional, resource_id)
        return mappings.practitioner_role_resource(professional) if professional else None

    def search(self, ctx: FhirContext, query: SearchQuery) -> Page:
        statement = select(Professional)
        practitioner = query.reference("practitioner", "Practitioner")
        if practitioner is not None:
            statement = statement.where(Professional.id == practitioner)
        specialty = query.token("specialty")
        if specialty is not None:
            statement = statement.where(Professional.specialty == specialty.code)
        rows, total = _page(
            ctx.session, _professionals_ordered(_by_ids(statement, Professional.id, query), query), query
        )
        return Page([mappings.practitioner_role_resource(p) for p in rows], total)


Statuses = dict[str, tuple[str, ...]]
_REQUEST_STATUS_TO_REFERRAL: Statuses = {
    "active": ("requested", "accepted", "seen"), "completed": ("closed",), "revoked": ("cancelled",),
}  # fmt: skip
_REQUEST_STATUS_TO_TE: Statuses = {
    "active": ("requested",), "completed": ("answered",), "revoked": ("cancelled", "expired"),
}  # fmt: skip
_TASK_STATUS_TO_REFERRAL: Statuses = {
    "requested": ("requested",), "accepted": ("accepted",), "in-progress": ("seen",), "completed": ("closed",),
    "cancelled": ("cancelled",),
}  # fmt: skip
_TASK_STATUS_TO_TE: Statuses = {
    "requested": ("requested",), "completed": ("answered",), "cancelled": ("cancelled",), "failed": ("expired",),
}  # fmt: skip


def _te_status_in(effective: tuple[str, ...]) -> ColumnElement[bool]:
    """Téléexpertises whose status, with ``expired`` computed from the deadline, is one of ``effective``."""
    on = today()
    conditions = {"requested": teleexpertise.pending(on), "expired": teleexpertise.expired(on)}
    return or_(*(conditions.get(s, Teleexpertise.status == s) for s in effective))


class _CoordinationItems:
    """Referrals and téléexpertises, seen as one list of requests (ServiceRequest) or of tasks (Task)."""

    date_sort: str  # the _sort key of the day issued or requested (its FHIR search parameter name)

    def _split(self, resource_id: str) -> tuple[type[Referral] | type[Teleexpertise], str] | None:
        if resource_id.startswith(mappings.REFERRAL_PREFIX):
            return Referral, resource_id.removeprefix(mappings.REFERRAL_PREFIX)
        if resource_id.startswith(mappings.TELEEXPERTISE_PREFIX):
            return Teleexpertise, resource_id.removeprefix(mappings.TELEEXPERTISE_PREFIX)
        return None

    def _row(self, session: Session, resource_id: str) -> Referral | Teleexpertise | None:
        split = self._split(resource_id)
        if split is None:
            return None
        model, key = split
        row = session.get(model, key)
        assert row is None or isinstance(row, (Referral, Teleexpertise))
        return row

    def _checked_row(self, ctx: FhirContext, resource_id: str) -> Referral | Teleexpertise | None:
        row = self._row(ctx.session, resource_id)
        if row is None:
            return None
        if isinstance(row, Referral):
            participants = (row.referrer.rpps, row.target.rpps if row.target else None)
        else:
            participants = (row.requester.rpps, row.expert.rpps)
        authz.coordination(ctx.session, ctx.principal, row.patient_id, f"fhir.{type(row).__name__}.read",
                           participants=participants, resource_id=row.id)  # fmt: skip
        return row

    def _items(
        self,
        ctx: FhirContext,
        query: SearchQuery,
        *,
        statuses: tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]],
        person: tuple[str, str] | None,
    ) -> tuple[list[Referral | Teleexpertise], int]:
        session = ctx.session
        patient = query.reference("patient", "Patient")
        mine: str | None = None  # without a patient, a professional searches the items naming them
        if patient is not None:
            authz.coordination(session, ctx.principal, patient, "fhir.coordination.search")
        elif ctx.principal.rpps is not None:
            mine = session.scalar(select(Professional.id).where(Professional.rpps == ctx.principal.rpps)) or "-"
        else:
            own = authz.own_patient_ids(session, ctx.principal)
            if own is None:  # refused as for any patient's items (the role's reason, traced), not "unknown"
                refuse_unknown_patient(Caller.of(session, ctx.principal), ResourceAccess(ResourceKind.CARE_COORDINATION),
                                       Action.READ, "fhir.coordination.search")  # fmt: skip
            patients = own or []
        status = query.first("status")
        category = query.token("category")
        kinds: list[type[Referral] | type[Teleexpertise]] = [Referral, Teleexpertise]
        if category is not None:
            kinds = [Referral] if category.code in ("3457005", "referral") else [Teleexpertise]
        if status is not None and status not in {**statuses[0], **statuses[1]}:
            raise FhirError(400, "invalid", f"Paramètre status : valeur inconnue {status}", expression="status")
        ids = query.ids()
        selects = []
        for kind in kinds:
            is_referral = kind is Referral
            if ids is not None:
                named = [split[1] for i in ids if (split := self._split(i)) is not None and split[0] is kind]
                if not named:
                    continue
            statement: Any = select(
                literal("referral" if is_referral else "teleexpertise").label("kind"),
                kind.id.label("id"),
                (Referral.issued_on if is_referral else Teleexpertise.requested_on).label("day"),
            )
            if ids is not None:
                statement = statement.where(kind.id.in_(sorted(named)))
            if patient is not None:
                statement = statement.where(kind.patient_id == patient)
            elif mine is not None:
                statement = statement.where(
                    or_(Referral.referrer_id == mine, Referral.target_id == mine) if is_referral
                    else or_(Teleexpertise.requester_id == mine, Teleexpertise.expert_id == mine)
                )  # fmt: skip
            else:
                statement = statement.where(kind.patient_id.in_(patients))
            if status is not None:
                mapping = statuses[0] if is_referral else statuses[1]
                if status not in mapping:  # a status only the other kind has (a failed Task is an expired request)
                    continue
                statement = statement.where(
                    kind.status.in_(mapping[status]) if is_referral else _te_status_in(mapping[status])
                )
            if person is not None:
                parameter, column = person
                who = query.reference(parameter, "Practitioner")
                if who is not None:
                    if is_referral:
                        statement = statement.where(
                            (Referral.target_id if column == "owner" else Referral.referrer_id) == who
                        )
                    else:
                        statement = statement.where(
                            (Teleexpertise.expert_id if column == "owner" else Teleexpertise.requester_id) == who
                        )
            selects.append(statement)
        if not selects:
            return [], 0
        # both kinds in one ordered list, paged by the database
        both = union_all(*selects).subquery() if len(selects) > 1 else selects[0].subquery()
        total = session.scalar(select(func.count()).select_from(both)) or 0
        # the served id is "<kind>-<id>": ordered by kind then id, like the id itself
        columns = {"_id": (both.c.kind, both.c.id), self.date_sort: (both.c.day,)}
        order = [c.desc() if k.descending else c for k in query.sort for c in columns[k.name]]
        keys = session.execute(
            select(both.c.kind, both.c.id).order_by(*order, both.c.day, both.c.id)
            .offset(query.offset).limit(query.count)
        ).all()  # fmt: skip
        loaded: dict[tuple[str, str], Referral | Teleexpertise] = {}
        for kind in kinds:
            name = "referral" if kind is Referral else "teleexpertise"
            wanted = [key for k, key in keys if k == name]
            for row in session.scalars(select(kind).where(kind.id.in_(wanted))) if wanted else ():
                assert isinstance(row, (Referral, Teleexpertise))
                loaded[(name, row.id)] = row
        return [loaded[(k, key)] for k, key in keys], total


class _CoordinationProvider(_CoordinationItems):
    """Read and search shared by the two views of a referral or a téléexpertise."""

    resource_type: str
    statuses: tuple[Statuses, Statuses]
    person: tuple[str, str]

    def _resource(self, row: Referral | Teleexpertise, shown: Disclosure) -> Resource:
        raise NotImplementedError

    def read(self, ctx: FhirContext, resource_id: str) -> Resource | None:
        row = self._checked_row(ctx, resource_id)
        if row is None:
            return None
        # the clinical text is record data: served (and traced) through the access decision
        shown = authz.disclosures(ctx.session, ctx.principal, [row], f"fhir.{self.resource_type}.read")
        return self._resource(row, shown[row.id])

    def search(self, ctx: FhirContext, query: SearchQuery) -> Page:
        rows, total = self._items(ctx, query, statuses=self.statuses, person=self.person)
        shown = authz.disclosures(ctx.session, ctx.principal, rows, f"fhir.{self.resource_type}.search")
        return Page([self._resource(r, shown[r.id]) for r in rows], total)


class ServiceRequestProvider(_CoordinationProvider):
    resource_type: str = "ServiceRequest"
    profile: str | None = None
    search_parameters: Sequence[SearchParameter] = (
        ID_PARAM,
        PATIENT_PARAM,
        SearchParameter("status", "token", "active | completed | revoked"),
        SearchParameter("category", "token", "3457005 (adressage) ou teleexpertise"),
        SearchParameter("requester", "reference", "Demandeur (Practitioner/id)"),
    )
    statuses = (_REQUEST_STATUS_TO_REFERRAL, _REQUEST_STATUS_TO_TE)
    person = ("requester", "requester")
    date_sort = "authored"
    sort_parameters = ("_id", "authored")

    def _resource(self, row: Referral | Teleexpertise, shown: Disclosure) -> Resource:
        if isinstance(row, Referral):
            return mappings.referral_request(row, shown)
        return mappings.teleexpertise_request(row, shown)


class TaskProvider(_CoordinationProvider):
    resource_type: str = "Task"
    profile: str | None = None
    search_parameters: Sequence[SearchParameter] = (
        ID_PARAM,
        PATIENT_PARAM,
        SearchParameter("status", "token", "requested | accepted | in-progress | completed | cancelled"),
        SearchParameter("owner", "reference", "Professionnel chargé de la tâche (Practitioner/id)"),
        SearchParameter("category", "token", "3457005 (adressage) ou teleexpertise"),
    )
    statuses = (_TASK_STATUS_TO_REFERRAL, _TASK_STATUS_TO_TE)
    person = ("owner", "owner")
    date_sort = "authored-on"
    sort_parameters = ("_id", "authored-on")

    def _resource(self, row: Referral | Teleexpertise, shown: Disclosure) -> Resource:
        if isinstance(row, Referral):
            return mappings.referral_task(row, shown)
        return mappings.teleexpertise_task(row, shown)


_CLAIM_STATUS = {"active": ("paid", "rejected"), "cancelled": ("cancelled", "replaced")}


class _ClaimFamily:
    """Claim, ClaimResponse and ExplanationOfBenefit are three views of one stored claim."""

    sort_parameters = ("_id", "created")
    search_parameters: Sequence[SearchParameter] = (
        ID_PARAM,
        PATIENT_PARAM,
        SearchParameter("status", "token", "active | cancelled"),
        SearchParameter("provider", "reference", "Professionnel qui a facturé (Practitioner/id)"),
    )
    profile: str | None = None

    def _resource(self, claim: Claim) -> Resource:
        raise NotImplementedError

    def read(self, ctx: FhirContext, resource_id: str) -> Resource | None:
        claim = ctx.session.get(Claim, resource_id)
        if claim is None:
            return None
        authz.claim(ctx.session, ctx.principal, claim.patient_id, claim.professional.rpps, "fhir.Claim.read",
                    resource_id=claim.id)  # fmt: skip
        return self._resource(claim)

    def search(self, ctx: FhirContext, query: SearchQuery) -> Page:
        statement = select(Claim)
        patient = query.reference("patient", "Patient")
        principal = ctx.principal
        if patient is not None:
            # a professional only ever sees what they billed: for an unknown patient, the empty page someone
            # else's patient gives (no 404 telling which ids exist); other callers get the refusal an unrelated
            # patient gets (or, who may see any patient, the 404)
            if principal.rpps is None or ctx.session.get(Patient, patient) is not None:
                authz.claim(ctx.session, principal, patient, principal.rpps, "fhir.Claim.search")
            statement = statement.where(Claim.patient_id == patient)
        if principal.rpps is not None:  # a professional sees the claims they billed
            statement = statement.join(Professional, Professional.id == Claim.professional_id).where(
                Professional.rpps == principal.rpps
            )
        elif patient is None and principal.role is not Role.INSURER_AGENT:
            own = authz.own_patient_ids(ctx.session, principal)
            if own is None:  # an administrator: refused as for any patient's claims (role, traced), not "unknown"
                refuse_unknown_patient(Caller.of(ctx.session, principal), ResourceAccess(ResourceKind.CLAIM),
                                       Action.READ, "fhir.Claim.search")  # fmt: skip
            statement = statement.where(Claim.patient_id.in_(own or []))
        provider = query.reference("provider", "Practitioner")
        if provider is not None:
            statement = statement.where(Claim.professional_id == provider)
        status = query.first("status")
        if status is not None:
            if status not in _CLAIM_STATUS:
                raise FhirError(400, "invalid", f"Paramètre status : valeur inconnue {status}", expression="status")
            statement = statement.where(Claim.status.in_(_CLAIM_STATUS[status]))
        statement = _by_ids(statement, Claim.id, query)
        sorts = {"_id": Claim.id, "created": Claim.care_date}
        rows, total = _page(ctx.session, _ordered(statement, query, sorts, (Claim.care_date.desc(), Claim.id)), query)
        return Page([self._resource(c) for c in rows], total)


class ClaimProvider(_ClaimFamily):
    resource_type: str = "Claim"

    def _resource(self, claim: Claim) -> Resource:
        return mappings.claim_resource(claim)


class ClaimResponseProvider(_ClaimFamily):
    resource_type: str = "ClaimResponse"

    def _resource(self, claim: Claim) -> Resource:
        return mappings.claim_response_resource(claim)


class ExplanationOfBenefitProvider(_ClaimFamily):
    resource_type: str = "ExplanationOfBenefit"

    def _resource(self, claim: Claim) -> Resource:
        return mappings.explanation_of_benefit(claim, complementary_share(claim))


def fhir_server() -> FhirServer[FhirContext]:
    server: FhirServer[FhirContext] = FhirServer(context=fhir_context)
    providers: tuple[ResourceProvider[FhirContext], ...] = (
        PatientProvider(),
        PractitionerProvider(),
        PractitionerRoleProvider(),
        ServiceRequestProvider(),
        TaskProvider(),
        ClaimProvider(),
        ClaimResponseProvider(),
        ExplanationOfBenefitProvider(),
        *record_providers(),
    )
    for provider in providers:
        server.register(provider)
    return server
