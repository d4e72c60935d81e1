"""Privacy tiers: each customer's tier (who set it, when), and one table per tier for the Application
agent's inputs: the tier-1 request log (numbers and short identifiers only), tier-2 aggregates, and the
tier-3 prompt vault (Fernet ciphertext).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
NAME = sa.String(255)
ENUM = sa.String(32)
LABEL = sa.String(128)


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _workload_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["customer_id", "workload_id"],
        ["workloads.customer_id", "workloads.workload_id"],
        name=f"fk_{table}_customer_id_workloads",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    _create_customer_privacy()
    _create_request_log()
    _create_request_aggregates()
    _create_prompt_vault()


def downgrade() -> None:
    for table in ("prompt_vault", "request_aggregates", "request_log", "customer_privacy"):
        op.drop_table(table)


def _create_customer_privacy() -> None:
    op.create_table(
        "customer_privacy",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("changed_by", NAME, nullable=False),
        _timestamp("changed_at"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_privacy"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name="fk_customer_privacy_customer_id_customers",
            ondelete="CASCADE",
        ),
    )


def _create_request_log() -> None:
    op.create_table(
        "request_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("workload_id", ID, nullable=False),
        _timestamp("at"),
        sa.Column("model", LABEL, nullable=False),
        sa.Column("request_type", LABEL, nullable=False),
        sa.Column("context_tokens", sa.Integer(), nullable=False),
        sa.Column("generated_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=True),
        sa.Column("ttft_s", sa.Float(), nullable=True),
        sa.Column("error", ENUM, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_request_log"),
        _workload_key("request_log"),
    )
    # The Application agent reads one workload's requests over a time window.
    op.create_index(
        "ix_request_log_customer_id_workload_id_at", "request_log", ["customer_id", "workload_id", "at"]
    )


def _create_request_aggregates() -> None:
    op.create_table(
        "request_aggregates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("workload_id", ID, nullable=False),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("request_type", LABEL, nullable=False),
        _timestamp("period_start"),
        _timestamp("period_end"),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_request_aggregates"),
        _workload_key("request_aggregates"),
        sa.UniqueConstraint(
            "customer_id",
            "workload_id",
            "kind",
            "request_type",
            "period_start",
            "period_end",
            name="uq_request_aggregates_period",
        ),
    )


def _create_prompt_vault() -> None:
    op.create_table(
        "prompt_vault",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("workload_id", ID, nullable=False),
        sa.Column("request_ref", LABEL, nullable=False),
        _timestamp("at"),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        _timestamp("stored_at"),
        sa.PrimaryKeyConstraint("id", name="pk_prompt_vault"),
        _workload_key("prompt_vault"),
        sa.UniqueConstraint(
            "customer_id",
            "workload_id",
            "request_ref",
            name="uq_prompt_vault_customer_id_workload_id_request_ref",
        ),
    )
