"""Measured capacity profiles (vllm bench serve, GuideLLM, inference-perf) per deployment.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "capacity_profiles",
        sa.Column("profile_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("workload_id", sa.String(64), nullable=True),
        sa.Column("gpu", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("tp", sa.Integer(), nullable=False),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("profile_id", name="pk_capacity_profiles"),
    )
    op.create_index(
        "ix_capacity_profiles_customer_id_gpu_model", "capacity_profiles", ["customer_id", "gpu", "model"]
    )


def downgrade() -> None:
    op.drop_table("capacity_profiles")
