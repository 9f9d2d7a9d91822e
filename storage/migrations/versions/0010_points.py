"""points (积分): the ledger and the 平安超市's redemptions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "points",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("person", sa.String(128), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("ref", sa.String(32), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("grid", sa.String(64), nullable=False),
        sa.Column("ticket_id", Id, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("person", "scope", "rule", "ref", name="uq_points_once"),
    )
    op.create_index("ix_points_account", "points", ["person", "scope", "at"])
    op.create_index("ix_points_grid_at", "points", ["grid", "at"])
    op.create_table(
        "point_redemptions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("person", sa.String(128), nullable=False),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("grid", sa.String(64), nullable=False),
        sa.Column("item", sa.String(200), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_point_redemptions_account", "point_redemptions", ["person", "scope"])
    op.create_index("ix_point_redemptions_grid_at", "point_redemptions", ["grid", "at"])


def downgrade() -> None:
    op.drop_index("ix_point_redemptions_grid_at", "point_redemptions")
    op.drop_index("ix_point_redemptions_account", "point_redemptions")
    op.drop_table("point_redemptions")
    op.drop_index("ix_points_grid_at", "points")
    op.drop_index("ix_points_account", "points")
    op.drop_table("points")
