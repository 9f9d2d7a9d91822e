"""messages.private: one-to-one lines routed through a grid's chat are kept out of its transcript

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Back-fill: what the Official Account and the WeCom app received was one-to-one, and so was
    # everything the bot answered an Official Account resident in their grid's chat.
    m = sa.table(
        "messages",
        sa.column("id", sa.BigInteger()),
        sa.column("direction", sa.String()),
        sa.column("channel", sa.String()),
        sa.column("client_id", sa.String()),
        sa.column("person_id", sa.String()),
        sa.column("cause_id", sa.BigInteger()),
        sa.column("private", sa.Boolean()),
    )
    one_to_one = (m.c.channel == "wechat") | ((m.c.channel == "wecom") & m.c.client_id.like("wcapp-%"))
    op.execute(m.update().where(m.c.direction == "in", one_to_one).values(private=True))
    oa_inbound = sa.select(m.c.id).where(m.c.direction == "in", m.c.channel == "wechat")
    answers = m.update().where(m.c.direction == "out", m.c.person_id.is_(None), m.c.cause_id.in_(oa_inbound))
    op.execute(answers.values(private=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("private")
