"""How requests reach a workload's replicas: what the KV tiering plan replays its prefix trace under.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workloads") as batch:
        batch.add_column(
            sa.Column("request_routing", sa.String(32), nullable=False, server_default="round_robin")
        )


def downgrade() -> None:
    with op.batch_alter_table("workloads") as batch:
        batch.drop_column("request_routing")
