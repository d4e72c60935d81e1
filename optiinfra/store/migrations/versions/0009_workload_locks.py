"""One executing optimization per workload: the lock a run holds while it changes the workload.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workload_locks",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("workload_id", sa.String(64), nullable=False),
        sa.Column("holder_workflow_id", sa.String(255), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "workload_id", name="pk_workload_locks"),
    )


def downgrade() -> None:
    op.drop_table("workload_locks")
