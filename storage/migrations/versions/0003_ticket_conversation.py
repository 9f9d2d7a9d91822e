"""tickets: linked followers, per-resident ratings, close reason (默认满意), reopen count, 挂账 reason;
messages: attachments (photos, shared places)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("followers", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("ratings", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("close_reason", sa.String(32), nullable=True))
        batch.add_column(sa.Column("reopens", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("suspension", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("attachments", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("attachments")
    with op.batch_alter_table("tickets") as batch:
        for column in ("suspension", "reopens", "close_reason", "ratings", "followers"):
            batch.drop_column(column)
