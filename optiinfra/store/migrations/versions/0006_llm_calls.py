"""Language-model usage counts the calls behind each answer: the draft and its repairs.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Answers recorded before this revision are counted as zero calls: the count was not kept.
    with op.batch_alter_table("llm_usage") as batch:
        batch.add_column(sa.Column("calls", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("repairs", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("llm_usage") as batch:
        batch.drop_column("repairs")
        batch.drop_column("calls")
