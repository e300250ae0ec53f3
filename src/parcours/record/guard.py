"""Every path to a patient's data goes through ``authorize``: decide, trace, and refuse with ``AccessDeniedError``.

An allowed access to the record is traced in the caller's transaction (so a read is traced before its data
leaves, and a write is traced with the write), when that transaction commits (``audit_log.defer``: written as a
pending entry, chained by the sequencer without the request ever waiting for the chain's head). A refusal raises ``AccessDeniedError`` carrying the audit
entry to record: the request's transaction is rolled back, so whoever catches it writes the entry in a transaction
of its own (the API does so in its exception handler, ``record_refusal``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from parcours.record import audit_log
from parcours.record.access import Action, Decision, PatientFacts, Resource, ResourceKind, decide
from parcours.record.audit import AuditDraft, Outcome
from parcours.record.facts import load_facts
from parcours.record.identity import Principal
from parcours.store.models import Patient


class AccessDeniedError(Exception):
    """The access decision refused; ``draft`` is the audit entry that says so."""

    def __init__(self, decision: Decision, draft: AuditDraft) -> None:
        super().__init__(decision.explanation)
        self.decision = decision
        self.draft = draft

    @property
    def message(self) -> str:
        return f"accès refusé : {self.decision.explanation}"


@dataclass
class Caller:
    """Who is calling, inside which transaction, at what time."""

    session: Session
    principal: Principal
    now: dt.datetime

    @classmethod
    def of(cls, session: Session, principal: Principal) -> Caller:
        return cls(session, principal, dt.datetime.now(dt.UTC))

    def facts(self, patient: Patient) -> PatientFacts:
        return load_facts(self.session, patient, self.principal, self.now)


def draft_for(
    caller: Caller,
    decision: Decision,
    action: Action,
    operation: str,
    *,
    patient_nir: str | None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    detail: str | None = None,
    entity_ids: tuple[str, ...] = (),
) -> AuditDraft:
    principal = caller.principal
    return AuditDraft(
        actor=principal.actor,
        actor_role=principal.role.value,
        actor_name=principal.display_name,
        action=action.value,
        operation=operation,
        outcome=Outcome.ALLOWED if decision.allowed else Outcome.REFUSED,
        basis=decision.basis.value,
        purpose=decision.purpose.value,
        patient_nir=patient_nir,
        resource_type=resource_type,
        resource_id=resource_id,
        reason=decision.reason,
        detail=detail,
        entity_ids=entity_ids,
    )


def authorize(
    caller: Caller,
    patient: Patient | None,
    resource: Resource,
    action: Action,
    operation: str,
    *,
    facts: PatientFacts | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
    reason: str | None = None,
    detail: str | None = None,
    trace: bool = True,
) -> Decision:
    """Decide; trace an allowed access when ``trace`` (record data); raise AccessDeniedError (always traced) if refused."""
    if facts is None and patient is not None:
        facts = caller.facts(patient)
    decision = decide(caller.principal, facts, resource, action, reason=reason)
    draft = draft_for(
        caller, decision, action, operation, patient_nir=patient.nir if patient else None,
        resource_type=resource_type, resource_id=resource_id, detail=detail,
    )  # fmt: skip
    if not decision.allowed:
        raise AccessDeniedError(decision, draft)
    if trace:
        audit_log.defer(caller.session, draft, at=caller.now)
    return decision


def trace(caller: Caller, draft: AuditDraft) -> None:
    """Trace in the caller's transaction; chained when it commits (``audit_log.defer``)."""
    audit_log.defer(caller.session, draft, at=caller.now)


def record_refusal(session: Session, denied: AccessDeniedError) -> None:
    """Trace the refusal (in a transaction of its own, after the request's was rolled back); chained when it
    commits if the chain's head is free, as any trace (``audit_log.defer``)."""
    audit_log.defer(session, denied.draft)


def refuse_unknown_patient(caller: Caller, resource: Resource, action: Action, operation: str) -> None:
    """No such patient: refuse as for a patient the caller has nothing to do with (traced), so that nobody learns who
    is a patient by trying identifiers. Returns when the caller may see any patient (agent, administrator): to them
    the answer is a plain 404."""
    if resource.kind is ResourceKind.EMERGENCY_ACCESS and caller.principal.rpps is not None:
        return  # any professional may open one: whether a patient exists is no secret to them
    decision = decide(caller.principal, PatientFacts(nir=""), resource, action)
    if not decision.allowed:
        raise AccessDeniedError(decision, draft_for(caller, decision, action, operation, patient_nir=None))
