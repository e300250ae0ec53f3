"""web sessions ended by sign-out: a copied cookie is refused until its own end

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06 19:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_signed_out_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_web_signed_out_sessions")),
    )
    with op.batch_alter_table("web_signed_out_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_signed_out_sessions_ends_at"), ["ends_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("web_signed_out_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_signed_out_sessions_ends_at"))
    op.drop_table("web_signed_out_sessions")
