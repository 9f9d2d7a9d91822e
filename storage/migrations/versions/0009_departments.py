"""tickets: the department holding a case (派单 · 签收 · 退单 · 延期) and the city platform's case id

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("department", sa.String(64), nullable=True))
        batch.add_column(sa.Column("handling", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("returns", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("deadline", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(128), nullable=True))
        batch.create_index("ix_tickets_department", ["department"])
        batch.create_unique_constraint("uq_tickets_external_id", ["external_id"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_constraint("uq_tickets_external_id", type_="unique")
        batch.drop_index("ix_tickets_department")
        for column in ("external_id", "deadline", "returns", "handling", "department"):
            batch.drop_column(column)
