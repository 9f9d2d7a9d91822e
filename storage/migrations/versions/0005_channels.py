"""channel_chats, identities, channel_messages: external chat platforms (Telegram …); messages.template

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "channel_chats",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("external_id", sa.String(128), primary_key=True),
        sa.Column("chat_id", sa.String(128), nullable=False),
    )
    op.create_index("ix_channel_chats_chat", "channel_chats", ["channel", "chat_id"])
    op.create_table(
        "identities",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("external_id", sa.String(128), primary_key=True),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_identities_person", "identities", ["channel", "person_id"])
    op.create_table(
        "channel_messages",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("external_chat", sa.String(128), primary_key=True),
        sa.Column("external_id", sa.String(64), primary_key=True),
        sa.Column("message_id", Id, nullable=False),
    )
    op.create_index("ix_channel_messages_message", "channel_messages", ["channel", "message_id"])
    op.create_table(
        "channel_windows",
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("external_id", sa.String(128), primary_key=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("template", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("template")
    op.drop_table("channel_windows")
    op.drop_table("channel_messages")
    op.drop_table("identities")
    op.drop_table("channel_chats")
