"""audit head: the hash before the last append, so that one statement can move the head and insert the entry

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 09:30:00

``UPDATE audit_head SET previous_hash = entry_hash, entry_hash = … RETURNING previous_hash`` gives the new entry its
previous hash as the head was once locked (PostgreSQL before 18 has no ``RETURNING old``). Entries are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("previous_hash")
