"""Initial schema: customers, workloads, workflow runs, recommendations, executions, audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
WORKFLOW_ID = sa.String(255)
NAME = sa.String(255)
ENUM = sa.String(32)


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    _create_customers()
    _create_workloads()
    _create_workflow_runs()
    _create_recommendations()
    _create_executions()
    _create_audit_log()


def downgrade() -> None:
    for table in ("audit_log", "executions", "recommendations", "workflow_runs", "workloads", "customers"):
        op.drop_table(table)


def _create_customers() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("operating_mode", ENUM, nullable=False),
        sa.Column("auto_execute_min_confidence", sa.Float(), nullable=False),
        sa.Column("auto_execute_max_risk", ENUM, nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customers"),
    )


def _create_workloads() -> None:
    op.create_table(
        "workloads",
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("workload_id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("model_name", NAME, nullable=False),
        sa.Column("region", ID, nullable=False),
        sa.Column("stateless", sa.Boolean(), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("min_on_demand_instances", sa.Integer(), nullable=False),
        _timestamp("created_at"),
        sa.PrimaryKeyConstraint("customer_id", "workload_id", name="pk_workloads"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name="fk_workloads_customer_id_customers",
            ondelete="CASCADE",
        ),
    )


def _create_workflow_runs() -> None:
    op.create_table(
        "workflow_runs",
        sa.Column("workflow_id", WORKFLOW_ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("workload_id", ID, nullable=False),
        sa.Column("agent", ENUM, nullable=False),
        sa.Column("run_number", sa.Integer(), nullable=False),
        _timestamp("started_at"),
        sa.PrimaryKeyConstraint("workflow_id", name="pk_workflow_runs"),
        sa.UniqueConstraint(
            "customer_id",
            "workload_id",
            "agent",
            "run_number",
            name="uq_workflow_runs_customer_id_workload_id_agent_run_number",
        ),
    )


def _create_recommendations() -> None:
    op.create_table(
        "recommendations",
        sa.Column("recommendation_id", WORKFLOW_ID, nullable=False),
        sa.Column("workflow_id", WORKFLOW_ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("workload_id", ID, nullable=False),
        sa.Column("agent", ENUM, nullable=False),
        sa.Column("type", ENUM, nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("reasoning", sa.Text(), nullable=False),
        sa.Column("estimated_monthly_savings_usd", sa.Float(), nullable=False),
        sa.Column("current_monthly_cost_usd", sa.Float(), nullable=False),
        sa.Column("projected_monthly_cost_usd", sa.Float(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("risk_level", ENUM, nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("approval", sa.JSON(), nullable=True),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.PrimaryKeyConstraint("recommendation_id", name="pk_recommendations"),
        sa.UniqueConstraint("workflow_id", name="uq_recommendations_workflow_id"),
    )
    op.create_index("ix_recommendations_status", "recommendations", ["status"])
    op.create_index("ix_recommendations_customer_id", "recommendations", ["customer_id"])


def _create_executions() -> None:
    op.create_table(
        "executions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recommendation_id", WORKFLOW_ID, nullable=False),
        sa.Column("workflow_id", WORKFLOW_ID, nullable=False),
        sa.Column("step_id", NAME, nullable=False),
        sa.Column("action", ENUM, nullable=False),
        sa.Column("target", NAME, nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("resource_ids", sa.JSON(), nullable=False),
        _timestamp("finished_at"),
        sa.PrimaryKeyConstraint("id", name="pk_executions"),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.recommendation_id"],
            name="fk_executions_recommendation_id_recommendations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "workflow_id", "step_id", "status", name="uq_executions_workflow_id_step_id_status"
        ),
    )
    op.create_index("ix_executions_recommendation_id", "executions", ["recommendation_id"])


def _create_audit_log() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _timestamp("at"),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("action", NAME, nullable=False),
        sa.Column("subject", WORKFLOW_ID, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_subject", "audit_log", ["subject"])
