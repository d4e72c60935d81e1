"""Language-model usage: tokens and cost of each reasoning answer, per workflow and customer.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
WORKFLOW_ID = sa.String(255)
NAME = sa.String(255)
ENUM = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "llm_usage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow_id", WORKFLOW_ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("task", NAME, nullable=False),
        sa.Column("tier", ENUM, nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("fell_back", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_llm_usage"),
    )
    op.create_index("ix_llm_usage_workflow_id", "llm_usage", ["workflow_id"])
    # The monthly budget sums one customer's rows from the first of the month.
    op.create_index("ix_llm_usage_customer_id_created_at", "llm_usage", ["customer_id", "created_at"])


def downgrade() -> None:
    op.drop_table("llm_usage")
