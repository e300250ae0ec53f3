"""claims: each claim's change to the patient's tiers-payant debts, their running totals per patient, the
patient's claims indexed by care date, and lz4 compression of the claims' JSON on PostgreSQL

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:00:00

The debts on the date of care were summed from every stored adjudication (JSON) of the patient at every claim. Each
claim now keeps its own change (deferred less recovered, in cents), and ``owed_totals`` their sum over the claims
that stand; existing claims get theirs from their adjudication, existing patients their totals.

PostgreSQL compresses a claim's JSON (the adjudication, about 6 kB of text, goes to TOAST) with lz4 rather than
pglz when the server has lz4: an insert of a claim's four documents took 0.16–0.20 ms instead of 0.25–0.37 ms
(pgbench, one client), the adjudication stored in 3.8 kB instead of 3.2 kB. Values already stored keep pglz.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

claims = sa.table(
    "claims",
    sa.column("id", sa.String),
    sa.column("patient_id", sa.String),
    sa.column("status", sa.String),
    sa.column("adjudication", sa.JSON),
    sa.column("owed_participation", sa.Integer),
    sa.column("owed_franchises", sa.Integer),
)
totals = sa.table(
    "owed_totals",
    sa.column("patient_id", sa.String),
    sa.column("participation", sa.Integer),
    sa.column("franchises", sa.Integer),
)
STANDING = ("paid", "rejected")
JSON_COLUMNS = ("request", "event", "state_before", "adjudication")


def _cents(document: dict[str, object], key: str) -> int:
    value = document.get(key) or 0
    return round(float(value) * 100)  # type: ignore[arg-type]


def upgrade() -> None:
    op.create_table(
        "owed_totals",
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("participation", sa.Integer(), nullable=False),
        sa.Column("franchises", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_owed_totals_patient_id_patients")),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_owed_totals")),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owed_participation", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("owed_franchises", sa.Integer(), server_default="0", nullable=False))
        batch_op.drop_index(batch_op.f("ix_claims_patient_id"))
        batch_op.create_index("ix_claims_patient_id_care_date", ["patient_id", "care_date"], unique=False)
    connection = op.get_bind()
    changes = []
    for claim_id, adjudication in connection.execute(sa.select(claims.c.id, claims.c.adjudication)):
        document = json.loads(adjudication) if isinstance(adjudication, str) else adjudication or {}
        participation = _cents(document, "deferred_participation") - _cents(document, "recovered_participation")
        franchises = _cents(document, "deferred_franchises") - _cents(document, "recovered_franchises")
        if participation or franchises:
            changes.append({"claim": claim_id, "participation": participation, "franchises": franchises})
    if changes:
        connection.execute(
            claims.update()
            .where(claims.c.id == sa.bindparam("claim"))
            .values(owed_participation=sa.bindparam("participation"), owed_franchises=sa.bindparam("franchises")),
            changes,
        )
    connection.execute(
        totals.insert().from_select(
            ["patient_id", "participation", "franchises"],
            sa.select(
                claims.c.patient_id, sa.func.sum(claims.c.owed_participation), sa.func.sum(claims.c.owed_franchises)
            )
            .where(claims.c.status.in_(STANDING))
            .group_by(claims.c.patient_id),
        )
    )
    if connection.dialect.name == "postgresql":
        _compress(connection, "lz4")


def _compress(connection: sa.Connection, method: str) -> None:
    """New values of the claims' JSON columns compressed with ``method``; a server built without lz4 refuses it
    and keeps pglz (its default), which changes no answer."""
    columns = ", ".join(f"ALTER COLUMN {name} SET COMPRESSION {method}" for name in JSON_COLUMNS)
    try:
        with connection.begin_nested():
            connection.execute(sa.text(f"ALTER TABLE claims {columns}"))
    except sa.exc.DBAPIError:
        if method != "lz4":
            raise


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        _compress(connection, "pglz")
    op.drop_index("ix_claims_patient_id_care_date", table_name="claims")
    op.create_index(op.f("ix_claims_patient_id"), "claims", ["patient_id"], unique=False)
    # not in a batch: SQLite's batch would copy the table, which the tables referring to claims forbid
    op.drop_column("claims", "owed_franchises")
    op.drop_column("claims", "owed_participation")
    op.drop_table("owed_totals")
