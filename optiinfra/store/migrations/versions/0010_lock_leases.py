"""The workload lock carries the lease its holder stated, so a waiter knows how long the holder may keep it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FORMER_LEASE = timedelta(hours=12)
"""The fixed lease every lock had before: the locks held during the upgrade keep it."""


def upgrade() -> None:
    with op.batch_alter_table("workload_locks") as batch:
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    locks = sa.table(
        "workload_locks",
        sa.column("customer_id", sa.String),
        sa.column("workload_id", sa.String),
        sa.column("acquired_at", sa.DateTime(timezone=True)),
        sa.column("lease_until", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    for row in bind.execute(sa.select(locks.c.customer_id, locks.c.workload_id, locks.c.acquired_at)):
        bind.execute(
            locks.update()
            .where((locks.c.customer_id == row.customer_id) & (locks.c.workload_id == row.workload_id))
            .values(lease_until=row.acquired_at + FORMER_LEASE)
        )
    with op.batch_alter_table("workload_locks") as batch:
        batch.alter_column("lease_until", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("workload_locks") as batch:
        batch.drop_column("lease_until")
