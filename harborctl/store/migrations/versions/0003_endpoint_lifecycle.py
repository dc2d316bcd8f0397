"""endpoints with a lifecycle: enabled or disabled (why, since when), failing since, and a
previous secret that still signs during a rotation's overlap

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        batch.add_column(
            sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(sa.Column("disabled_reason", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("previous_secret", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    endpoints = sa.table(
        "endpoints", sa.column("created_at", sa.DateTime()), sa.column("updated_at", sa.DateTime())
    )
    op.execute(endpoints.update().values(updated_at=endpoints.c.created_at))


def downgrade() -> None:
    with op.batch_alter_table("endpoints") as batch:
        for name in (
            "updated_at",
            "previous_secret_until",
            "previous_secret",
            "failing_since",
            "disabled_at",
            "disabled_reason",
            "enabled",
        ):
            batch.drop_column(name)
