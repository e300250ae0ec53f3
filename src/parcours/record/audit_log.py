"""The audit trail in the store: append one entry at a time to the hash chain, read it, verify it.

Appending locks the single ``audit_head`` row (an UPDATE takes the row lock on PostgreSQL and the write lock on
SQLite), reads the previous hash, inserts the new entry and moves the head, so concurrent transactions are chained
one after the other and never fork the chain. There is no function that changes or removes an entry.

The head's lock is held until the transaction ends, so every transaction that appends waits for the one before it to
commit. To keep that wait short, the access checks queue their entries (``defer``) and the entries are chained when
the transaction commits (``before_commit``): the lock is then held for one statement and the COMMIT, not for the
whole request. On PostgreSQL that statement moves the head, computes the entry's SHA-256 in the database from the
canonical serialisation (``audit.canonical_template``) and inserts the entry; the hash is checked again in Python
before the transaction commits. Reading the trail first chains what the session queued, so a session sees its own
entries; a rolled-back transaction drops its queue with its other writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, event, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, SessionTransaction

from parcours.record.audit import (
    GENESIS_HASH,
    Anchor,
    AuditDraft,
    AuditEntry,
    ChainBreak,
    Outcome,
    Verification,
    canonical_template,
    seal,
    truncate_to_storage,
    verify,
)
from parcours.store.record import AUDIT_TABLE, AuditHead, AuditLogEntry

HEAD_ID = 1
VERIFY_BATCH = 1000
PENDING = "parcours.audit.pending"  # the key of the session's queue in ``Session.info``


def defer(session: Session, draft: AuditDraft, *, at: dt.datetime | None = None) -> None:
    """Queue ``draft`` to be chained when the session's transaction commits (in that transaction)."""
    session.info.setdefault(PENDING, []).append((draft, at or dt.datetime.now(dt.UTC)))


def chain_pending(session: Session) -> None:
    """Chain what the session queued, in the order it was queued."""
    pending = session.info.pop(PENDING, None)
    for draft, at in pending or ():
        _append(session, draft, at)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if PENDING in session.info and _pipelined(session):
        _chain_and_commit(session)
    chain_pending(session)


def _pipelined(session: Session) -> bool:
    """The queue can go out with the COMMIT in one round trip: PostgreSQL through psycopg's pipeline, the
    outermost transaction of a session that owns its connection (a savepoint's commit, or a session joined to a
    caller's transaction, does not end the database transaction)."""
    bind = session.get_bind()
    if session.in_nested_transaction() or not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return False
    import psycopg

    return psycopg.Pipeline.is_supported()


def _chain_and_commit(session: Session) -> None:
    """Send the queued appends and the COMMIT together (psycopg's pipeline): the head's lock is then held while the
    database runs them, never while this process waits for its turn on the interpreter lock to send the COMMIT.
    The unit of work is flushed first, so that everything the transaction writes commits in this COMMIT; the
    session's own commit that follows finds the connection idle and sends nothing."""
    session.flush()
    pending = session.info.pop(PENDING)
    connection = session.connection().connection.dbapi_connection
    assert connection is not None
    sql = _append_postgresql_sql(session)
    sealed = [(draft, _append_values(draft, at)) for draft, at in pending]
    with connection.pipeline():
        # the head first if it was lost (an emptied database): each append must find it, before the COMMIT
        connection.cursor().execute(_ENSURE_HEAD_POSTGRESQL, {"head": HEAD_ID, "genesis": GENESIS_HASH})
        cursors = []
        for _, values in sealed:
            cursor = connection.cursor()
            cursor.execute(sql, values)
            cursors.append(cursor)
        connection.commit()
    for cursor, (draft, values) in zip(cursors, sealed, strict=True):
        row = cursor.fetchone()
        assert row is not None  # the head exists: ensured in the same pipeline
        _sealed(draft, values, tuple(row))


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed (already chained) or rolled back with the transaction's other writes
        session.info.pop(PENDING, None)


def append(session: Session, draft: AuditDraft, *, at: dt.datetime | None = None) -> AuditEntry:
    """Chain ``draft`` after the last entry now, in the session's transaction (after what the session queued)."""
    chain_pending(session)
    return _append(session, draft, at or dt.datetime.now(dt.UTC))


def _append(session: Session, draft: AuditDraft, at: dt.datetime) -> AuditEntry:
    if session.get_bind().dialect.name == "postgresql":
        return _append_postgresql(session, draft, at)
    return _append_in_steps(session, draft, at)


_COLUMNS = ("recorded_at", "actor", "actor_role", "actor_name", "action", "operation", "outcome", "basis", "purpose",
            "patient_nir", "resource_type", "resource_id", "reason", "detail", "entity_ids")  # fmt: skip
# one statement: lock and move the head (the SET expressions read the head as it is once locked, so a transaction
# that waited for another chains after it), seal the entry with the database's SHA-256, insert it
_APPEND_POSTGRESQL = text(f"""
WITH head AS (
    UPDATE audit_head
    SET sequence = sequence + 1,
        previous_hash = entry_hash,
        entry_hash = encode(sha256(convert_to(
            CAST(:before AS text) || entry_hash || CAST(:between AS text) || CAST(sequence + 1 AS text)
            || CAST(:after AS text), 'UTF8')), 'hex')
    WHERE id = :head
    RETURNING sequence, previous_hash, entry_hash
)
INSERT INTO {AUDIT_TABLE} (sequence, {", ".join(_COLUMNS)}, previous_hash, entry_hash)
SELECT sequence, {", ".join("CAST(:entity_ids AS json)" if c == "entity_ids" else f":{c}" for c in _COLUMNS)},
       previous_hash, entry_hash
FROM head
RETURNING sequence, previous_hash, entry_hash
""")


_ENSURE_HEAD_POSTGRESQL = (
    "INSERT INTO audit_head (id, sequence, entry_hash) VALUES (%(head)s, 0, %(genesis)s) ON CONFLICT DO NOTHING"
)


def _append_values(draft: AuditDraft, at: dt.datetime) -> dict[str, Any]:
    moment = truncate_to_storage(at)
    before, between, after = canonical_template(draft, recorded_at=moment)
    values: dict[str, Any] = asdict(draft)
    values.update(
        head=HEAD_ID, before=before, between=between, after=after, recorded_at=moment, outcome=draft.outcome.value,
        entity_ids=json.dumps(list(draft.entity_ids)) if draft.entity_ids else None,
    )  # fmt: skip
    return values


def _sealed(draft: AuditDraft, values: dict[str, Any], row: tuple[Any, ...]) -> AuditEntry:
    sequence, previous, digest = row
    expected = hashlib.sha256(f"{values['before']}{previous}{values['between']}{sequence}{values['after']}".encode())
    if digest != expected.hexdigest():  # the database hashed other bytes: ``verify`` will name this entry
        raise RuntimeError(f"audit entry {sequence}: the database's SHA-256 differs from the canonical one")
    return AuditEntry(sequence=sequence, recorded_at=values["recorded_at"], previous_hash=previous, entry_hash=digest,
                      **asdict(draft))  # fmt: skip


def _append_postgresql_sql(session: Session) -> str:
    """The append statement in the driver's own parameter style, compiled once per dialect."""
    dialect = session.get_bind().dialect
    compiled: str | None = getattr(dialect, "_parcours_audit_append", None)
    if compiled is None:
        compiled = str(_APPEND_POSTGRESQL.compile(dialect=dialect))
        dialect._parcours_audit_append = compiled  # type: ignore[attr-defined]
    return compiled


def _append_postgresql(session: Session, draft: AuditDraft, at: dt.datetime) -> AuditEntry:
    values = _append_values(draft, at)
    row = session.execute(_APPEND_POSTGRESQL, values).one_or_none()
    if row is None:
        _ensure_head(session)  # the migration creates the head; an emptied database has lost it
        row = session.execute(_APPEND_POSTGRESQL, values).one()
    return _sealed(draft, values, tuple(row))


def _append_in_steps(session: Session, draft: AuditDraft, at: dt.datetime) -> AuditEntry:
    """SQLite (one writer at a time anyway): move the head, read it, insert, move the head's hash."""
    move = update(AuditHead).where(AuditHead.id == HEAD_ID).values(sequence=AuditHead.sequence + 1)
    if session.execute(move).rowcount == 0:  # type: ignore[attr-defined]
        _ensure_head(session)  # the migration creates the head; an emptied database has lost it
        session.execute(move)
    sequence, previous = session.execute(
        select(AuditHead.sequence, AuditHead.entry_hash).where(AuditHead.id == HEAD_ID)
    ).one()
    entry = seal(draft, sequence=sequence, recorded_at=at, previous_hash=previous)
    session.add(
        AuditLogEntry(
            sequence=entry.sequence,
            recorded_at=entry.recorded_at,
            actor=entry.actor,
            actor_role=entry.actor_role,
            actor_name=entry.actor_name,
            action=entry.action,
            operation=entry.operation,
            outcome=entry.outcome.value,
            basis=entry.basis,
            purpose=entry.purpose,
            patient_nir=entry.patient_nir,
            resource_type=entry.resource_type,
            resource_id=entry.resource_id,
            reason=entry.reason,
            detail=entry.detail,
            entity_ids=list(entry.entity_ids) or None,
            previous_hash=entry.previous_hash,
            entry_hash=entry.entry_hash,
        )
    )
    session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(previous_hash=previous, entry_hash=entry.entry_hash)
    )
    session.flush()
    return entry


def _ensure_head(session: Session) -> None:
    values = {"id": HEAD_ID, "sequence": 0, "entry_hash": GENESIS_HASH, "previous_hash": None}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql_insert(AuditHead).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(AuditHead).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - parcours runs on SQLite and PostgreSQL
        session.add(AuditHead(**values))
        session.flush()


def as_entry(row: AuditLogEntry) -> AuditEntry:
    recorded_at = row.recorded_at
    if recorded_at.tzinfo is None:  # SQLite gives back naive UTC
        recorded_at = recorded_at.replace(tzinfo=dt.UTC)
    return AuditEntry(
        sequence=row.sequence,
        recorded_at=recorded_at.astimezone(dt.UTC),
        actor=row.actor,
        actor_role=row.actor_role,
        action=row.action,
        operation=row.operation,
        outcome=Outcome(row.outcome),
        basis=row.basis,
        purpose=row.purpose,
        patient_nir=row.patient_nir,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        reason=row.reason,
        actor_name=row.actor_name,
        detail=row.detail,
        previous_hash=row.previous_hash,
        entry_hash=row.entry_hash,
        entity_ids=tuple(row.entity_ids or ()),
    )


def chain(session: Session, batch: int = VERIFY_BATCH) -> Iterator[AuditEntry]:
    """Every entry in sequence order, read in batches (keyset pagination) so a long log streams."""
    chain_pending(session)
    last = 0
    while True:
        rows = list(
            session.scalars(
                select(AuditLogEntry).where(AuditLogEntry.sequence > last).order_by(AuditLogEntry.sequence).limit(batch)
            )
        )
        if not rows:
            return
        for row in rows:
            yield as_entry(row)
        last = rows[-1].sequence
        session.expunge_all()


@dataclass(frozen=True, slots=True)
class Hidden:
    """Entries a reader must not see: about these resources, or with these details (what a minor keeps secret
    from their legal representatives, and the masking that keeps it so)."""

    resource_ids: frozenset[str] = frozenset()
    details: frozenset[str] = frozenset()

    def hides(self, entry: AuditEntry) -> bool:
        return entry.resource_id in self.resource_ids or entry.detail in self.details

    def strip(self, entry: AuditEntry) -> AuditEntry:
        """The entry without the hidden resources it lists (a search that returned a secret entry to the MT)."""
        kept = tuple(i for i in entry.entity_ids if i.rpartition("/")[2] not in self.resource_ids)
        return entry if kept == entry.entity_ids else dataclasses.replace(entry, entity_ids=kept)


@dataclass(frozen=True, slots=True)
class EntriesPage:
    entries: list[AuditEntry]
    total: int


def entries(
    session: Session,
    *,
    patient_nir: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    offset: int = 0,
    limit: int = 50,
    newest_first: bool = True,
    hidden: Hidden | None = None,
    sequences: Collection[int] | None = None,
) -> EntriesPage:
    chain_pending(session)
    query = select(AuditLogEntry)
    if sequences is not None:
        query = query.where(AuditLogEntry.sequence.in_(sorted(sequences)))
    if patient_nir is not None:
        query = query.where(AuditLogEntry.patient_nir == patient_nir)
    if hidden is not None and hidden.resource_ids:
        query = query.where(
            or_(AuditLogEntry.resource_id.is_(None), AuditLogEntry.resource_id.not_in(sorted(hidden.resource_ids)))
        )
    if hidden is not None and hidden.details:
        query = query.where(or_(AuditLogEntry.detail.is_(None), AuditLogEntry.detail.not_in(sorted(hidden.details))))
    if since is not None:
        query = query.where(AuditLogEntry.recorded_at >= since)
    if until is not None:
        query = query.where(AuditLogEntry.recorded_at <= until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = AuditLogEntry.sequence.desc() if newest_first else AuditLogEntry.sequence
    rows = session.scalars(query.order_by(order).offset(offset).limit(limit))
    found = [as_entry(row) for row in rows]
    return EntriesPage([hidden.strip(e) for e in found] if hidden is not None else found, total)


def entry(session: Session, sequence: int) -> AuditEntry | None:
    chain_pending(session)
    row = session.get(AuditLogEntry, sequence)
    return as_entry(row) if row else None


def head(session: Session) -> Anchor | None:
    """The last entry as an anchor to copy elsewhere (``parcours audit head``)."""
    chain_pending(session)
    row = session.scalars(select(AuditLogEntry).order_by(AuditLogEntry.sequence.desc()).limit(1)).one_or_none()
    return Anchor(row.sequence, row.entry_hash) if row else None


def verify_store(session: Session, *, anchor: Anchor | None = None) -> Verification:
    """Verify the stored chain, against ``anchor`` if given, then against the head row (a careless truncation)."""
    result = verify(chain(session), anchor=anchor)
    if not result.ok:
        return result
    recorded = session.execute(
        select(AuditHead.sequence, AuditHead.entry_hash).where(AuditHead.id == HEAD_ID)
    ).one_or_none()
    last = result.head.sequence if result.head else 0
    if recorded is not None and recorded.sequence > last:
        return Verification(
            result.checked,
            result.head,
            ChainBreak(
                last + 1,
                "truncated",
                f"le journal s'arrête à l'entrée n° {last} mais sa tête enregistrée est l'entrée n° {recorded.sequence}"
                " : entrées finales supprimées",
            ),
        )
    return result
