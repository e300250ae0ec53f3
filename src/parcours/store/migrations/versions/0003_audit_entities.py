"""audit log: the ids of the resources a search or an export returned (one AuditEvent.entity each)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 03:45:00

Adding a nullable column leaves existing entries, and their hashes, as they were (the append-only triggers refuse
UPDATE, not ALTER TABLE).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_log", sa.Column("entity_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_log", "entity_ids")
