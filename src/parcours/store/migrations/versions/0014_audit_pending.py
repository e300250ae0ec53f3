"""audit pending: traces committed with their request and not chained yet, and the sequencer that chains them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 15:00:00

A traced request no longer locks the chain's head: it writes its trace to ``audit_pending`` and commits; the
sequencer (on PostgreSQL the ``audit_sequence`` function created here) chains pending entries in batches under the
head's lock. Chained entries are unchanged. The downgrade chains what is still pending first (PostgreSQL) or refuses
while entries are pending (SQLite, where they are chained at commit: only a crash leaves one).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Frozen with this revision: changing the sequencer needs a new migration.
from parcours.store.record import DROP_SEQUENCER_SQL, SEQUENCER_SQL

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("basis", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("patient_nir", sa.String(length=15), nullable=True),
        sa.Column("resource_type", sa.String(length=40), nullable=True),
        sa.Column("resource_id", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("entity_ids", sa.JSON(), nullable=True),
        sa.Column("hash_before", sa.Text(), nullable=False),
        sa.Column("hash_between", sa.Text(), nullable=False),
        sa.Column("hash_after", sa.Text(), nullable=False),
        sa.CheckConstraint("outcome in ('allowed', 'refused')", name=op.f("ck_audit_pending_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_pending")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in SEQUENCER_SQL:
            op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(sa.text("SELECT count(*) FROM audit_sequence(true)"))
        for statement in DROP_SEQUENCER_SQL:
            op.execute(statement)
    elif bind.execute(sa.text("SELECT count(*) FROM audit_pending")).scalar():
        raise RuntimeError("audit_pending holds entries not chained yet: run « parcours audit sequence » first")
    op.drop_table("audit_pending")
