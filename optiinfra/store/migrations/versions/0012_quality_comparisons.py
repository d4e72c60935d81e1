"""Routing quality samples: requests answered by both the current and the cheaper model and judged, tier 1
(numbers, a verdict and short identifiers only). They turn a routing proposal's upper bound into savings.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quality_comparisons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("workload_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("request_type", sa.String(128), nullable=False),
        sa.Column("context_tokens", sa.Integer(), nullable=False),
        sa.Column("cheap_model", sa.String(128), nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quality_comparisons"),
        sa.ForeignKeyConstraint(
            ["customer_id", "workload_id"],
            ["workloads.customer_id", "workloads.workload_id"],
            name="fk_quality_comparisons_customer_id_workloads",
            ondelete="CASCADE",
        ),
    )
    # The Application agent reads one workload's sample over a time window.
    op.create_index(
        "ix_quality_comparisons_customer_id_workload_id_at",
        "quality_comparisons",
        ["customer_id", "workload_id", "at"],
    )


def downgrade() -> None:
    op.drop_table("quality_comparisons")
