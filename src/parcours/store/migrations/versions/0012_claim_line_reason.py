"""claim lines: the refusal reason of each line, so that a worklist filters by reason in SQL

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07 01:00:00

The reason was only in each claim's adjudication document; existing lines get it from there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

claims = sa.table("claims", sa.column("id", sa.String), sa.column("adjudication", sa.JSON))
lines = sa.table(
    "claim_lines", sa.column("claim_id", sa.String), sa.column("position", sa.Integer), sa.column("reason", sa.String)
)


def upgrade() -> None:
    with op.batch_alter_table("claim_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_claim_lines_reason"), ["reason"], unique=False)
    connection = op.get_bind()
    for claim_id, adjudication in connection.execute(sa.select(claims.c.id, claims.c.adjudication)):
        document = json.loads(adjudication) if isinstance(adjudication, str) else adjudication or {}
        for position, line in enumerate(document.get("lines") or []):
            if isinstance(line, dict) and line.get("reason"):
                connection.execute(
                    lines.update()
                    .where(lines.c.claim_id == claim_id, lines.c.position == position)
                    .values(reason=str(line["reason"]))
                )


def downgrade() -> None:
    with op.batch_alter_table("claim_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_lines_reason"))
        batch_op.drop_column("reason")
