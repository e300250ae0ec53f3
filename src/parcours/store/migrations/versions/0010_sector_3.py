"""professionals may be non-contracted (secteur 3, reimbursed on the tarif d'autorité)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("professionals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_professionals_sector"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_professionals_sector"), "sector in ('1', '2', '3')")


def downgrade() -> None:
    with op.batch_alter_table("professionals", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_professionals_sector"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_professionals_sector"), "sector in ('1', '2')")
