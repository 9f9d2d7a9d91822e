"""the map: grid boundaries and buildings, people's last positions, case points, hotspots' index

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("grid_nodes") as batch:
        batch.add_column(sa.Column("boundary", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("buildings", sa.JSON(), nullable=True))
    op.create_table(
        "positions",
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_positions_at", "positions", ["at"])
    op.create_table(
        "case_points",
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
    )
    op.create_index("ix_tickets_grid_created", "tickets", ["grid", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_tickets_grid_created", table_name="tickets")
    op.drop_table("case_points")
    op.drop_index("ix_positions_at", table_name="positions")
    op.drop_table("positions")
    with op.batch_alter_table("grid_nodes") as batch:
        batch.drop_column("buildings")
        batch.drop_column("boundary")
