"""Tenants and roles: API keys (the secret's hash only), customers' OIDC identity providers, audit lines
scoped to a customer with the state before and after a write, and the index the recommendation list reads
by.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name="fk_api_keys_customer_id_customers",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_api_keys_customer_id", "api_keys", ["customer_id"])
    op.create_table(
        "identity_providers",
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("audience", sa.String(255), nullable=False),
        sa.Column("jwks_url", sa.Text(), nullable=False),
        sa.Column("role_claim", sa.String(64), nullable=False),
        sa.Column("default_role", sa.String(32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_identity_providers"),
        sa.UniqueConstraint("issuer", name="uq_identity_providers_issuer"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name="fk_identity_providers_customer_id_customers",
            ondelete="CASCADE",
        ),
    )
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("customer_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("before", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("after", sa.JSON(), nullable=True))
    op.create_index("ix_audit_log_customer_id_id", "audit_log", ["customer_id", "id"])
    op.create_index(
        "ix_recommendations_customer_id_created_at", "recommendations", ["customer_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_recommendations_customer_id_created_at", table_name="recommendations")
    op.drop_index("ix_audit_log_customer_id_id", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("after")
        batch.drop_column("before")
        batch.drop_column("customer_id")
    op.drop_table("identity_providers")
    op.drop_table("api_keys")
