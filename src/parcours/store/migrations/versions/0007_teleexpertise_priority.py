"""téléexpertise: the requester's priority (routine or urgent), which orders the expert's inbox

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-06 12:10:00

Existing requests are routine (server default).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("teleexpertises", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.String(length=16), server_default="routine", nullable=False))
        batch_op.create_check_constraint(op.f("ck_teleexpertises_priority"), "priority in ('routine', 'urgent')")


def downgrade() -> None:
    with op.batch_alter_table("teleexpertises", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_teleexpertises_priority"), type_="check")
        batch_op.drop_column("priority")
