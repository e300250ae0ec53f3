"""The audit trail in the store: traces written with their request, chained by a sequencer, read, verified.

A traced request does not touch the chain's head. The access checks queue their traces (``defer``); when the
request's transaction commits (``before_commit``) they are inserted into ``audit_pending`` (durably, with the
request: an access that was served is never lost) and the *sequencer* is tried in the same transaction: it takes the
single ``audit_head`` row's lock only if no one holds it (``FOR UPDATE SKIP LOCKED``), chains every pending entry it
sees in id order (same canonical serialisation and SHA-256 as ever, ``audit.canonical_template``), deletes them from
the pending table and moves the head. A request never waits for the head: if another transaction holds it, its
traces stay pending and are chained by the next sequencer. This is how Certificate Transparency logs (Trillian)
sequence submitted entries in batches. On PostgreSQL the sequencer is one function call (``audit_sequence``, see
``store.record.SEQUENCER_SQL``), sent with the inserts and the ``COMMIT`` in one psycopg pipeline round trip; the
hashes of the request's own entries are checked again in Python. On SQLite (one writer at a time anyway) the
sequencer runs in Python, hashes the same template, and always chains at commit.

Why in the request's transaction: only a transaction holding the head chains, and each of the sequencer's statements
after the lock sees what the previous holder committed (READ COMMITTED), so no entry is chained twice and the chain
never forks; a rolled-back request takes its pending rows away and gives back those of others it had chained.

Whatever reads the trail (``entries``, ``entry``, ``chain``, ``head``, ``verify_store``, hence the patient's
"who saw my record" and the AuditEvent search) first runs the sequencer *waiting* for the head, in its own
transaction: it sees every trace committed before it, sequenced, and its own session's traces. An operator runs it
with ``parcours audit sequence`` (``--every`` to keep doing so).

The window (docs/record.md, "the sequenced trail"): a pending entry is protected by the database's durability, not
yet by the chain; someone with write access to the database could delete or change it unseen until it is chained.
It is chained by the next traced request that finds the head free (under load, the next request or so), any reader
of the trail, or the operator's ``parcours audit sequence``: run it at a fixed interval to bound the delay when the
service is idle. There is no function that changes or removes a chained entry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, delete, event, exists, func, insert, or_, select, text, update
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
    truncate_to_storage,
    verify,
)
from parcours.store.record import PENDING_TABLE, AuditHead, AuditLogEntry, AuditPending

HEAD_ID = 1
VERIFY_BATCH = 1000
SEQUENCE_BATCH = 1000  # pending entries a request's transaction chains at most (a reader chains them all)
PENDING = "parcours.audit.pending"  # the key of the session's queue in ``Session.info``


@dataclass(frozen=True, slots=True)
class Chained:
    """A pending entry the sequencer chained: its pending id, its place, its hashes."""

    pending_id: int
    sequence: int
    previous_hash: str
    entry_hash: str


def defer(session: Session, draft: AuditDraft, *, at: dt.datetime | None = None) -> None:
    """Queue ``draft``: written as a pending entry when the session's transaction commits (in that transaction)."""
    session.info.setdefault(PENDING, []).append((draft, at or dt.datetime.now(dt.UTC)))


def sequence(session: Session, *, wait: bool = True, limit: int | None = None) -> int:
    """Chain the pending entries (the session's queue first) in the session's transaction; how many were chained.
    ``wait=False`` gives up at once if another transaction holds the head (PostgreSQL)."""
    return len(_sequence(session, wait=wait, limit=limit))


def _sequence(session: Session, *, wait: bool, limit: int | None) -> list[Chained]:
    write_pending(session)
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(text("SELECT * FROM audit_sequence(:wait, :limit)"), {"wait": wait, "limit": limit})
        return [Chained(*row) for row in rows]
    return _sequence_in_steps(session, limit)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if PENDING not in session.info:
        return
    if _pipelined(session):
        _pend_sequence_and_commit(session)
    else:
        _sequence(session, wait=False, limit=SEQUENCE_BATCH)


def _pipelined(session: Session) -> bool:
    """The queue can go out with the COMMIT in one round trip: PostgreSQL through psycopg's pipeline, the
    outermost transaction of a session that owns its connection (a savepoint's commit, or a session joined to a
    caller's transaction, does not end the database transaction)."""
    bind = session.get_bind()
    if session.in_nested_transaction() or not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        return False
    import psycopg

    return psycopg.Pipeline.is_supported()


def _pend_sequence_and_commit(session: Session) -> None:
    """Send the pending inserts, the sequencer (giving up if the head is taken) and the COMMIT together (psycopg's
    pipeline): one round trip, and the head, when this transaction takes it, is held while the database runs them,
    never while this process waits for its turn on the interpreter lock. The unit of work is flushed first, so that
    everything the transaction writes commits in this COMMIT; the session's own commit that follows finds the
    connection idle and sends nothing."""
    session.flush()
    pending = session.info.pop(PENDING)
    connection = session.connection().connection.dbapi_connection
    assert connection is not None
    insert_sql, sequence_sql = _pipeline_sql(session)
    written = [_pending_values(draft, at) for draft, at in pending]
    with connection.pipeline():
        cursors = []
        for values in written:
            cursor = connection.cursor()
            cursor.execute(insert_sql, values)
            cursors.append(cursor)
        sequencer = connection.cursor()
        sequencer.execute(sequence_sql, {"wait": False, "limit": SEQUENCE_BATCH})
        connection.commit()
    own = {}
    for cursor, values in zip(cursors, written, strict=True):
        row = cursor.fetchone()
        assert row is not None
        own[row[0]] = values
    for row in sequencer.fetchall():
        chained = Chained(*row)
        if chained.pending_id in own:
            _check(own[chained.pending_id], chained)


_COLUMNS = ("recorded_at", "actor", "actor_role", "actor_name", "action", "operation", "outcome", "basis", "purpose",
            "patient_nir", "resource_type", "resource_id", "reason", "detail", "entity_ids")  # fmt: skip
_INSERT_PENDING_POSTGRESQL = text(f"""
INSERT INTO {PENDING_TABLE} ({", ".join(_COLUMNS)}, hash_before, hash_between, hash_after)
VALUES ({", ".join("CAST(:entity_ids AS json)" if c == "entity_ids" else f":{c}" for c in _COLUMNS)},
        :hash_before, :hash_between, :hash_after)
RETURNING id
""")
_SEQUENCE = text("SELECT * FROM audit_sequence(:wait, :limit)")


def _pipeline_sql(session: Session) -> tuple[str, str]:
    """The pending insert and the sequencer call in the driver's own parameter style, compiled once per dialect."""
    dialect = session.get_bind().dialect
    compiled: tuple[str, str] | None = getattr(dialect, "_parcours_audit_pending", None)
    if compiled is None:
        compiled = (str(_INSERT_PENDING_POSTGRESQL.compile(dialect=dialect)), str(_SEQUENCE.compile(dialect=dialect)))
        dialect._parcours_audit_pending = compiled  # type: ignore[attr-defined]
    return compiled


def _pending_values(draft: AuditDraft, at: dt.datetime) -> dict[str, Any]:
    """A pending row's values, JSON as text (the raw driver's pipeline); the canonical template around the two
    values only the sequencer knows."""
    moment = truncate_to_storage(at)
    before, between, after = canonical_template(draft, recorded_at=moment)
    values: dict[str, Any] = asdict(draft)
    values.update(
        hash_before=before, hash_between=between, hash_after=after, recorded_at=moment, outcome=draft.outcome.value,
        entity_ids=json.dumps(list(draft.entity_ids)) if draft.entity_ids else None,
    )  # fmt: skip
    return values


def _check(values: dict[str, Any], chained: Chained) -> None:
    """The hash the sequencer gave an entry is the canonical one (the database hashed the same bytes)."""
    data = f"{values['hash_before']}{chained.previous_hash}{values['hash_between']}{chained.sequence}"
    expected = hashlib.sha256(f"{data}{values['hash_after']}".encode())
    if chained.entry_hash != expected.hexdigest():  # ``verify`` will name this entry
        raise RuntimeError(f"audit entry {chained.sequence}: the database's SHA-256 differs from the canonical one")


def write_pending(session: Session) -> dict[int, dict[str, Any]]:
    """Insert what the session queued as pending entries, in order, without chaining them (the sequencer will);
    their values by pending id."""
    queued = session.info.pop(PENDING, None)
    written: dict[int, dict[str, Any]] = {}
    for draft, at in queued or ():
        values = _pending_values(draft, at)
        row = dict(values, entity_ids=list(draft.entity_ids) or None)
        written[session.execute(insert(AuditPending).values(row).returning(AuditPending.id)).scalar_one()] = values
    return written


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # committed (already pending) or rolled back with the transaction's other writes
        session.info.pop(PENDING, None)


def append(session: Session, draft: AuditDraft, *, at: dt.datetime | None = None) -> AuditEntry:
    """Chain ``draft`` now, in the session's transaction, after what is pending (the session's queue first); waits
    for the head if another transaction holds it."""
    defer(session, draft, at=at)
    moment = session.info[PENDING][-1][1]
    written = write_pending(session)
    own = max(written)
    values = written[own]
    for chained in _sequence(session, wait=True, limit=None):
        if chained.pending_id == own:
            _check(values, chained)
            return AuditEntry(sequence=chained.sequence, recorded_at=truncate_to_storage(moment),
                              previous_hash=chained.previous_hash, entry_hash=chained.entry_hash,
                              **asdict(draft))  # fmt: skip
    raise RuntimeError("the sequencer did not chain the entry it was given")  # pragma: no cover - see _sequence


def _sequence_in_steps(session: Session, limit: int | None) -> list[Chained]:
    """SQLite (one writer at a time anyway): nothing to do if nothing is pending (no write lock taken by a reader);
    else take the write lock by touching the head, then chain in id order, delete, move the head."""
    if not session.scalar(select(exists().select_from(AuditPending))):
        return []
    touch = update(AuditHead).where(AuditHead.id == HEAD_ID).values(sequence=AuditHead.sequence)
    if session.execute(touch).rowcount == 0:  # type: ignore[attr-defined]
        _ensure_head(session)  # the migration creates the head; an emptied database has lost it
    number, previous = session.execute(
        select(AuditHead.sequence, AuditHead.entry_hash).where(AuditHead.id == HEAD_ID)
    ).one()
    pending = session.scalars(select(AuditPending).order_by(AuditPending.id).limit(limit)).all()
    chained: list[Chained] = []
    rows: list[dict[str, Any]] = []
    for row in pending:
        number += 1
        # the canonical template written with the request, as PostgreSQL's sequencer hashes it
        data = f"{row.hash_before}{previous}{row.hash_between}{number}{row.hash_after}"
        digest = hashlib.sha256(data.encode()).hexdigest()
        rows.append(dict(sequence=number, previous_hash=previous, entry_hash=digest,
                         **{c: getattr(row, c) for c in _COLUMNS}))  # fmt: skip
        chained.append(Chained(row.id, number, previous, digest))
        previous = digest
    if not chained:
        return []
    session.execute(insert(AuditLogEntry), rows)
    session.execute(delete(AuditPending).where(AuditPending.id.in_([c.pending_id for c in chained])))
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(sequence=number, previous_hash=chained[-1].previous_hash, entry_hash=previous)
    )
    for row in pending:
        session.expunge(row)
    return chained


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
    """Every entry in sequence order (what is pending chained first), read in batches (keyset pagination) so a long
    log streams."""
    sequence(session)
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
    sequence(session)
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


def entry(session: Session, number: int) -> AuditEntry | None:
    sequence(session)
    row = session.get(AuditLogEntry, number)
    return as_entry(row) if row else None


def head(session: Session) -> Anchor | None:
    """The last entry as an anchor to copy elsewhere (``parcours audit head``), what is pending chained first."""
    sequence(session)
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
