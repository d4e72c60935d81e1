"""Workload latency objectives (p95 time to first token, inter-token latency; optional), and the
plain-language explanation stored with each recommendation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workloads") as batch:
        batch.add_column(sa.Column("slo_ttft_p95_s", sa.Float(), nullable=True))
        batch.add_column(sa.Column("slo_itl_p95_s", sa.Float(), nullable=True))
    with op.batch_alter_table("recommendations") as batch:
        batch.add_column(sa.Column("explanation", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recommendations") as batch:
        batch.drop_column("explanation")
    with op.batch_alter_table("workloads") as batch:
        batch.drop_column("slo_itl_p95_s")
        batch.drop_column("slo_ttft_p95_s")
