"""The Kubernetes Deployment serving a workload (namespace and name; optional), for the Performance agent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workloads") as batch:
        batch.add_column(sa.Column("kube_namespace", sa.String(64), nullable=True))
        batch.add_column(sa.Column("kube_deployment", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workloads") as batch:
        batch.drop_column("kube_deployment")
        batch.drop_column("kube_namespace")
