"""The shared record's store: entries (FHIR R4 JSON), the patient's controls, emergency accesses, legal
representatives, and the append-only audit log with its pending entries.

The patient's controls keep their history: a mask, a block, an opposition or a non-opposition is *lifted* (with who
and when), never deleted, and a partial unique index allows one active row of each at a time. The audit log cannot
be changed through the application (there is no code path for it) nor through SQL (triggers refuse UPDATE, DELETE
and, on PostgreSQL, TRUNCATE: ``APPEND_ONLY_SQL``). A trace is first written, unchained, to ``audit_pending``
with the request; the sequencer (``parcours.record.audit_log``; on PostgreSQL the ``audit_sequence`` function,
``SEQUENCER_SQL``) chains pending entries into the log and removes them from ``audit_pending``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from parcours.store.models import Base, UtcDateTime, new_id

AUDIT_TABLE = "audit_log"
PENDING_TABLE = "audit_pending"
_ACTIVE = text("lifted_at IS NULL")


class RecordEntry(Base):
    """A document or a medical profile item, stored as the FHIR R4 resource it is served as."""

    __tablename__ = "record_entries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    section: Mapped[str] = mapped_column(String(16))
    status: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    resource: Mapped[dict[str, Any]] = mapped_column()
    author_role: Mapped[str] = mapped_column(String(16))
    author_identifier: Mapped[str] = mapped_column(String(15), index=True)
    entry_date: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    source: Mapped[str | None] = mapped_column(String(64))  # "referral:<id>", "teleexpertise:<id>"
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        Index("ix_record_entries_patient_type", "patient_id", "resource_type"),
        Index(
            "uq_record_entries_source",
            "source",
            unique=True,
            sqlite_where=text("source IS NOT NULL"),
            postgresql_where=text("source IS NOT NULL"),
        ),
        CheckConstraint("section in ('document', 'profile')", name="section"),
    )


class _Control:
    """Who set a control and when; lifted (not deleted) when the patient changes their mind."""

    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    created_by: Mapped[str] = mapped_column(String(64))
    lifted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    lifted_by: Mapped[str | None] = mapped_column(String(64))


class RecordMask(_Control, Base):
    """A masked entry: hidden from professionals other than the MT, or (a minor's secret) from the parents."""

    __tablename__ = "record_masks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    entry_id: Mapped[str] = mapped_column(ForeignKey("record_entries.id"), index=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        Index(
            "uq_record_masks_active", "entry_id", "scope", unique=True, sqlite_where=_ACTIVE, postgresql_where=_ACTIVE
        ),
        CheckConstraint("scope in ('professionals', 'representatives')", name="scope"),
    )


class RecordBlock(_Control, Base):
    """A professional the patient blocked from their record."""

    __tablename__ = "record_blocks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    professional_rpps: Mapped[str] = mapped_column(String(11))

    __table_args__ = (
        Index(
            "uq_record_blocks_active",
            "patient_id",
            "professional_rpps",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
    )


class RecordOpposition(_Control, Base):
    """The patient's opposition to emergency access (bris de glace) to their record."""

    __tablename__ = "record_oppositions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    scope: Mapped[str] = mapped_column(String(32), default="emergency_access")

    __table_args__ = (
        Index(
            "uq_record_oppositions_active",
            "patient_id",
            "scope",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
        CheckConstraint("scope in ('emergency_access')", name="scope"),
    )


class NonOpposition(_Control, Base):
    """The patient's non-opposition to a professional outside the care team (art. R1111-46 CSP)."""

    __tablename__ = "record_non_oppositions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    professional_rpps: Mapped[str] = mapped_column(String(11))

    __table_args__ = (
        Index(
            "uq_record_non_oppositions_active",
            "patient_id",
            "professional_rpps",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
    )


class EmergencyAccess(Base):
    """A bris de glace: who, why, from when until when."""

    __tablename__ = "record_emergency_accesses"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    professional_rpps: Mapped[str] = mapped_column(String(11), index=True)
    reason: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class LegalRepresentative(_Control, Base):
    """A parent (or guardian) acting for a minor patient."""

    __tablename__ = "legal_representatives"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id"), index=True)
    representative_nir: Mapped[str] = mapped_column(String(15), index=True)

    __table_args__ = (
        Index(
            "uq_legal_representatives_active",
            "patient_id",
            "representative_nir",
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        ),
    )


class _TraceFields:
    """The fields of a trace, the same in the chain and pending (the chain indexes ``patient_nir``: it is read by
    patient; the pending table only in id order)."""

    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(80))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(8))
    operation: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(8))
    basis: Mapped[str] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(16))
    resource_type: Mapped[str | None] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text)
    # the resources a search or an export returned: one AuditEvent.entity each (migration 0003)
    entity_ids: Mapped[list[str] | None] = mapped_column(JSON)


class AuditLogEntry(_TraceFields, Base):
    """One entry of the hash-chained audit trail (see ``parcours.record.audit``). Append-only."""

    __tablename__ = AUDIT_TABLE

    sequence: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    patient_nir: Mapped[str | None] = mapped_column(String(15), index=True)
    previous_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (CheckConstraint("outcome in ('allowed', 'refused')", name="outcome"),)


class AuditPending(_TraceFields, Base):
    """A trace committed with its request and not chained yet: the entry's fields, and its canonical serialisation
    around the previous hash and the sequence number (``audit.canonical_template``) that the sequencer fills in."""

    __tablename__ = PENDING_TABLE

    # increasing: the sequencer chains pending entries in this order
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    patient_nir: Mapped[str | None] = mapped_column(String(15))
    hash_before: Mapped[str] = mapped_column(Text)
    hash_between: Mapped[str] = mapped_column(Text)
    hash_after: Mapped[str] = mapped_column(Text)

    __table_args__ = (CheckConstraint("outcome in ('allowed', 'refused')", name="outcome"),)


class AuditHead(Base):
    """The last sequence number and hash: the row the sequencer locks, so entries are chained one batch at a time."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    # the hash before the last append: what one UPDATE ... RETURNING gives back as the new entry's previous hash
    previous_hash: Mapped[str | None] = mapped_column(String(64))


# The triggers that make the audit log append-only, per dialect. Used by the migration that creates them (frozen:
# a change needs a new migration) and by the tests that play the attacker (drop them, tamper, verify).
APPEND_ONLY_SQL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        f"CREATE TRIGGER {AUDIT_TABLE}_no_update BEFORE UPDATE ON {AUDIT_TABLE} "
        f"BEGIN SELECT RAISE(ABORT, '{AUDIT_TABLE} is append-only'); END",
        f"CREATE TRIGGER {AUDIT_TABLE}_no_delete BEFORE DELETE ON {AUDIT_TABLE} "
        f"BEGIN SELECT RAISE(ABORT, '{AUDIT_TABLE} is append-only'); END",
    ),
    "postgresql": (
        f"CREATE FUNCTION {AUDIT_TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{AUDIT_TABLE} is append-only'; END $$",
        f"CREATE TRIGGER {AUDIT_TABLE}_no_update_delete BEFORE UPDATE OR DELETE ON {AUDIT_TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION {AUDIT_TABLE}_append_only()",
        f"CREATE TRIGGER {AUDIT_TABLE}_no_truncate BEFORE TRUNCATE ON {AUDIT_TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {AUDIT_TABLE}_append_only()",
    ),
}

DROP_APPEND_ONLY_SQL: dict[str, tuple[str, ...]] = {
    "sqlite": (f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_update", f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_delete"),
    "postgresql": (
        f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_truncate ON {AUDIT_TABLE}",
        f"DROP TRIGGER IF EXISTS {AUDIT_TABLE}_no_update_delete ON {AUDIT_TABLE}",
        f"DROP FUNCTION IF EXISTS {AUDIT_TABLE}_append_only()",
    ),
}


_CHAINED = ("recorded_at", "actor", "actor_role", "actor_name", "action", "operation", "outcome", "basis", "purpose",
            "patient_nir", "resource_type", "resource_id", "reason", "detail", "entity_ids")  # fmt: skip

# The sequencer on PostgreSQL, one round trip: take the head (waiting for it, or giving up at once if another
# sequencer holds it: ``SKIP LOCKED``), chain up to ``max_entries`` pending entries (all if NULL) in id order, each
# hashed with the database's SHA-256 from its canonical template, insert them, delete them from the pending table,
# move the head. Each statement after the lock takes a fresh snapshot (READ COMMITTED), so it sees the pending rows
# and the head as the previous sequencer left them at its commit. Used by the migration that creates it (frozen: a
# change needs a new migration). Returns what it chained (pending id, sequence, previous hash, hash).
SEQUENCER_SQL: tuple[str, ...] = (
    f"""
CREATE FUNCTION audit_sequence(wait boolean, max_entries integer DEFAULT NULL)
RETURNS TABLE (chained_id bigint, chained_sequence integer, chained_previous_hash varchar, chained_hash varchar)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    head_sequence integer;
    head_hash varchar;
    head_previous varchar;
    pending record;
BEGIN
    FOR attempt IN 1..2 LOOP
        IF wait THEN
            SELECT h.sequence, h.entry_hash, h.previous_hash INTO head_sequence, head_hash, head_previous
            FROM audit_head h WHERE h.id = 1 FOR UPDATE;
        ELSE
            SELECT h.sequence, h.entry_hash, h.previous_hash INTO head_sequence, head_hash, head_previous
            FROM audit_head h WHERE h.id = 1 FOR UPDATE SKIP LOCKED;
        END IF;
        EXIT WHEN FOUND;
        IF attempt = 2 OR (NOT wait AND EXISTS (SELECT 1 FROM audit_head h WHERE h.id = 1)) THEN
            RETURN;  -- another sequencer holds the head: it, or the next one, chains what is pending
        END IF;
        -- the migration creates the head; an emptied database has lost it
        INSERT INTO audit_head (id, sequence, entry_hash) VALUES (1, 0, repeat('0', 64)) ON CONFLICT DO NOTHING;
    END LOOP;
    FOR pending IN SELECT * FROM {PENDING_TABLE} p ORDER BY p.id LIMIT max_entries LOOP
        head_previous := head_hash;
        head_sequence := head_sequence + 1;
        head_hash := encode(sha256(convert_to(
            pending.hash_before || head_previous || pending.hash_between || head_sequence::text || pending.hash_after,
            'UTF8')), 'hex');
        INSERT INTO {AUDIT_TABLE} (sequence, {", ".join(_CHAINED)}, previous_hash, entry_hash)
        VALUES (head_sequence, {", ".join(f"pending.{c}" for c in _CHAINED)}, head_previous, head_hash);
        DELETE FROM {PENDING_TABLE} p WHERE p.id = pending.id;
        chained_id := pending.id;
        chained_sequence := head_sequence;
        chained_previous_hash := head_previous;
        chained_hash := head_hash;
        RETURN NEXT;
    END LOOP;
    IF chained_id IS NOT NULL THEN
        UPDATE audit_head h SET sequence = head_sequence, entry_hash = head_hash, previous_hash = head_previous
        WHERE h.id = 1;
    END IF;
END $$
""",
)

DROP_SEQUENCER_SQL: tuple[str, ...] = ("DROP FUNCTION IF EXISTS audit_sequence(boolean, integer)",)
