"""Each customer's GPU budget: a cap on its fleet's GPUs and on its monthly cost (either may be unset).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("budget_max_gpus", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("budget_max_monthly_usd", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("budget_max_monthly_usd")
        batch.drop_column("budget_max_gpus")
