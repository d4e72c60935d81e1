"""Conflicts between agents' proposals found by joint optimizations, with their resolutions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conflicts",
        sa.Column("joint_workflow_id", sa.String(255), nullable=False),
        sa.Column("conflict_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("workload_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("conflict", sa.JSON(), nullable=False),
        sa.Column("resolution", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("joint_workflow_id", "conflict_id", name="pk_conflicts"),
    )
    op.create_index("ix_conflicts_customer_id_workload_id", "conflicts", ["customer_id", "workload_id"])
    op.create_index("ix_conflicts_created_at", "conflicts", ["created_at"])


def downgrade() -> None:
    op.drop_table("conflicts")
