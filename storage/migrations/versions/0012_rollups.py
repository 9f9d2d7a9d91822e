"""case_rollups + case_figures: the figures kept as rollups; tickets.due_at and the indexes the live
figures and the period queries read

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08

Existing cases get their rollups and `due_at` from `run_bot.py figures rebuild`, which `serve` runs by
itself once after this migration (job key `figures-built:1`).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
METRICS = (
    "created", "cancelled", "closed", "closed_on_time", "open", "suspended", "ratings", "rating_sum",
    "rated_1", "rated_2", "rated_3", "rated_4", "rated_5", "default_satisfied", "reopened", "overdue_cases",
    "esc_community", "esc_township", "esc_district", "esc_department", "whistles", "k_due", "k_deferred",
    "k_closed", "k_closed_on_time", "k_resolutions", "k_failed_verifications", "k_returns", "k_responded",
    "k_verdicts", "k_solved", "k_ratings", "k_satisfied", "k_yellow_cards", "k_red_cards", "closed_events",
    "resolved", "checkins",
)  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_tickets_live", "tickets", ["state", "grid", "tier", "due_at"])
    op.create_index("ix_tickets_created", "tickets", ["created_at"])
    op.create_index("ix_ticket_events_kind_at", "ticket_events", ["kind", "at"])
    op.create_table(
        "case_rollups",
        sa.Column("node", sa.String(64), primary_key=True),
        sa.Column("dim", sa.String(16), primary_key=True),
        sa.Column("grain", sa.String(1), primary_key=True),
        sa.Column("period", sa.String(10), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name in METRICS),
    )
    op.create_index("ix_case_rollups_period", "case_rollups", ["dim", "grain", "period"])
    op.create_index("ix_case_rollups_key", "case_rollups", ["dim", "key", "grain", "period"])
    op.create_table(
        "case_figures",
        sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id"), primary_key=True),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("case_figures")
    op.drop_index("ix_case_rollups_key", table_name="case_rollups")
    op.drop_index("ix_case_rollups_period", table_name="case_rollups")
    op.drop_table("case_rollups")
    op.drop_index("ix_ticket_events_kind_at", table_name="ticket_events")
    op.drop_index("ix_tickets_created", table_name="tickets")
    op.drop_index("ix_tickets_live", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("due_at")
