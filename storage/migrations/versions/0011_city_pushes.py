"""city_pushes: the city platform's push outbox (12345, 接诉即办), one push per timeline event

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "city_pushes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("event_id", Id, sa.ForeignKey("ticket_events.id"), nullable=False),
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("event_id", name="uq_city_pushes_event"),
    )
    op.create_index("ix_city_pushes_due", "city_pushes", ["status", "next_attempt_at"])
    op.create_index("ix_city_pushes_ticket", "city_pushes", ["ticket_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_city_pushes_ticket", table_name="city_pushes")
    op.drop_index("ix_city_pushes_due", table_name="city_pushes")
    op.drop_table("city_pushes")
