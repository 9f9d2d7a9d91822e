"""SQLAlchemy Core tables. Alembic migrations under storage/migrations must match this metadata."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from tickets.rollups import METRICS

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite would otherwise return naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BigInteger ids: a province-wide platform outgrows 2^31 messages.
Id = BigInteger().with_variant(Integer(), "sqlite")

grid_nodes = Table(
    "grid_nodes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("parent", String(64), nullable=True),
    Column("chat_id", String(128), nullable=True, unique=True),
    Column("boundary", JSON, nullable=True),  # GeoJSON geometry (the map), see tickets.geo
    Column("buildings", JSON, nullable=True),  # {3号楼: [lng, lat]}
)

people = Table(
    "people",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("node", String(64), nullable=True),
)

departments = Table(
    "departments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("people", JSON, nullable=False),
    Column("types", JSON, nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("type", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("tier", String(16), nullable=False),
    Column("grid", String(64), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("reporter", String(128), nullable=False),
    Column("assignee", String(64), nullable=True),
    Column("location", String(500), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("rating", Integer, nullable=True),
    Column("urgent", Boolean, nullable=False, server_default=false()),
    Column("followers", JSON, nullable=False, server_default="[]"),
    Column("ratings", JSON, nullable=False, server_default="{}"),
    Column("close_reason", String(32), nullable=True),
    Column("reopens", Integer, nullable=False, server_default="0"),
    Column("suspension", Text, nullable=False, server_default=""),
    Column("policy", JSON, nullable=False),
    Column("clock_phase", String(16), nullable=False),
    Column("clock_started_at", UtcDateTime(), nullable=False),
    Column("clock_base_tier", String(16), nullable=False),
    Column("clock_step", Integer, nullable=False),
    Column("clock_token", Integer, nullable=False),
    Column("next_due_at", UtcDateTime(), nullable=True),
    Column("department", String(64), nullable=True),
    Column("handling", JSON, nullable=False, server_default="{}"),
    Column("returns", Integer, nullable=False, server_default="0"),
    Column("deadline", UtcDateTime(), nullable=True),
    Column("external_id", String(128), nullable=True),
    # The running phase's deadline while a case can be late (accept/resolve, not on hold): "overdue now"
    # is `due_at <= now` over open cases, read through ix_tickets_live without loading a ticket.
    Column("due_at", UtcDateTime(), nullable=True),
    UniqueConstraint("external_id", name="uq_tickets_external_id"),
    Index("ix_tickets_live", "state", "grid", "tier", "due_at"),
    Index("ix_tickets_created", "created_at"),
    Index("ix_tickets_department", "department"),
    Index("ix_tickets_next_due_at", "next_due_at"),
    Index("ix_tickets_chat_state", "chat_id", "state"),
    Index("ix_tickets_reporter", "reporter"),
    Index("ix_tickets_grid_created", "grid", "created_at"),  # the map's hotspots (last 30 days)
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ticket_id", Id, ForeignKey("tickets.id"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_ticket_events_ticket", "ticket_id"),
    Index("ix_ticket_events_kind_at", "kind", "at"),
)

# The figures' rollups (tickets/rollups.py): counts per node × dimension × key × day or month, moved in
# the same transaction as the case change; `case_figures` holds what each case adds now.
case_rollups = Table(
    "case_rollups",
    metadata,
    Column("node", String(64), primary_key=True),  # a grid-tree node, '*' (everything) or '' (person rows)
    Column("dim", String(16), primary_key=True),  # '', type, tier, department, person
    Column("grain", String(1), primary_key=True),  # d (day) or m (month)
    Column("period", String(10), primary_key=True),  # YYYY-MM-DD (a month: its first day), Beijing time
    Column("key", String(128), primary_key=True),
    # integer, not bigint: PostgreSQL sums integers in a bigint, bigints in a (slow) numeric
    *(Column(name, Integer, nullable=False, server_default="0") for name in METRICS),
    Index("ix_case_rollups_period", "dim", "grain", "period"),  # a period's rows of every node (the heat table)
    Index("ix_case_rollups_key", "dim", "key", "grain", "period"),  # the rows of some keys (the workers shown)
)

case_figures = Table(
    "case_figures",
    metadata,
    Column("ticket_id", Id, ForeignKey("tickets.id"), primary_key=True),
    Column("chain", JSON, nullable=False),  # the nodes its rows went to, grid first
    Column("snapshot", JSON, nullable=False),  # the case fields the figures read
    Column("facts", JSON, nullable=False),  # the folded timeline
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("direction", String(4), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("chat_id", String(128), nullable=True),
    Column("person_id", String(128), nullable=True),
    Column("sender", String(128), nullable=False),
    Column("text", Text, nullable=False),
    Column("ticket_id", Id, nullable=True),
    Column("reply_to", Id, nullable=True),
    Column("client_id", String(128), nullable=True),
    Column("cause_id", Id, nullable=True),
    Column("intent", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("attachments", JSON, nullable=False, server_default="[]"),
    Column("template", String(64), nullable=True),
    # A one-to-one line (a WeChat OA message, a WeCom app message, the bot's answers to them): routed
    # through the grid's chat, never shown in the group's transcript.
    Column("private", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("chat_id", "client_id", name="uq_messages_chat_client"),
    Index("ix_messages_chat", "chat_id", "id"),
    Index("ix_messages_person", "person_id", "id"),
    Index("ix_messages_cause", "cause_id"),
    Index("ix_messages_outbox", "status", "next_attempt_at"),
)

# One delivery per (outbound message, platform): its own attempts, backoff, wait and dead letter.
# The web chat needs none (the stored message is what it shows); a message is fanned out once
# (the unique key makes a repeat add nothing) and leaves the messages' queue in the same commit.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False),
    Column("platform", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    UniqueConstraint("message_id", "platform", name="uq_deliveries_message_platform"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
)

# The city platform's push outbox (12345, 接诉即办): one push per timeline event (the unique key: an
# event is queued once), written in the transaction that appended the event, with its own attempts,
# backoff, lease and dead letter. `body` is what the platform receives (the event's id is added as `id`).
city_pushes = Table(
    "city_pushes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", Id, ForeignKey("ticket_events.id"), nullable=False),
    Column("ticket_id", Id, ForeignKey("tickets.id"), nullable=False),
    Column("body", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    UniqueConstraint("event_id", name="uq_city_pushes_event"),
    Index("ix_city_pushes_due", "status", "next_attempt_at"),
    Index("ix_city_pushes_ticket", "ticket_id", "id"),
)

# 报平安: one row per worker and local day.
checkins = Table(
    "checkins",
    metadata,
    Column("person_id", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, Beijing time
    Column("at", UtcDateTime(), nullable=False),
    Column("text", String(500), nullable=False),
    Index("ix_checkins_day", "day"),
)

# The map: each person's last shared position (a location in a chat, 报平安 with a location), one row per person.
positions = Table(
    "positions",
    metadata,
    Column("person_id", String(64), primary_key=True),
    Column("lng", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Index("ix_positions_at", "at"),
)

# The map: where a case is, from a location shared with its report or a later message (the last one wins).
case_points = Table(
    "case_points",
    metadata,
    Column("ticket_id", Id, ForeignKey("tickets.id"), primary_key=True),
    Column("lng", Float, nullable=False),
    Column("lat", Float, nullable=False),
)

# Daily and monthly jobs (reminders, digests, bulletins) run once per key, whoever leads.
job_runs = Table(
    "job_runs",
    metadata,
    Column("key", String(128), primary_key=True),  # e.g. checkin-reminder:2026-12-01
    Column("at", UtcDateTime(), nullable=False),
)

bulletins = Table(
    "bulletins",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # monthly | daily
    Column("period", String(16), nullable=False),  # 2026-11 | 2026-12-01
    Column("scope", String(64), nullable=False),  # the node the figures cover (district, township)
    Column("created_at", UtcDateTime(), nullable=False),
    Column("body", JSON, nullable=False),
    Column("text", Text, nullable=False),
    UniqueConstraint("kind", "period", "scope", name="uq_bulletins_period"),
)

# External channels (Telegram …): which platform chat is which micro-grid chat, who is who, and
# which platform message is which of ours (for threading replies both ways).
channel_chats = Table(
    "channel_chats",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("external_id", String(128), primary_key=True),
    Column("chat_id", String(128), nullable=False),
    Index("ix_channel_chats_chat", "channel", "chat_id"),
)

identities = Table(
    "identities",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("external_id", String(128), primary_key=True),
    Column("person_id", String(64), nullable=False),
    Column("linked_at", UtcDateTime(), nullable=False),  # the latest link is the person's preferred channel
    Index("ix_identities_person", "channel", "person_id"),
)

channel_messages = Table(
    "channel_messages",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("external_chat", String(128), primary_key=True),
    Column("external_id", String(64), primary_key=True),
    Column("message_id", Id, nullable=False),
    Index("ix_channel_messages_message", "channel", "message_id"),
)

# A platform's send window per person (WeChat customer-service messages: 5 within 48 h of the
# resident's last message).
channel_windows = Table(
    "channel_windows",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("external_id", String(128), primary_key=True),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("used", Integer, nullable=False),
)

# The admin web: accounts (argon2 hashes), login sessions (by token hash) and the audit log.
admin_accounts = Table(
    "admin_accounts",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("person_id", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("locked_until", UtcDateTime(), nullable=True),
    Column("disabled", Boolean, nullable=False, server_default=false()),
)

admin_sessions = Table(
    "admin_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(64), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Index("ix_admin_sessions_user", "username"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
    Column("before", JSON, nullable=False),
    Column("after", JSON, nullable=False),
    Index("ix_audit_log_target", "target", "id"),
)

# 积分: the points ledger, one row per (person, account scope, rule, case or day): the unique key makes
# every rule count once however often a timeline is derived (after each change, or in a rebuild).
# `scope` is the account: "" for staff (one account across grids), the grid for a resident.
points = Table(
    "points",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person", String(128), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("rule", String(32), nullable=False),
    Column("ref", String(32), nullable=False),  # "#12" a case, "2026-12-02" a day
    Column("points", Integer, nullable=False),
    Column("grid", String(64), nullable=False),
    Column("ticket_id", Id, nullable=True),
    Column("at", UtcDateTime(), nullable=False),
    UniqueConstraint("person", "scope", "rule", "ref", name="uq_points_once"),
    Index("ix_points_account", "person", "scope", "at"),
    Index("ix_points_grid_at", "grid", "at"),
)

# What the 平安超市 gave for points, recorded in the admin web (audited).
point_redemptions = Table(
    "point_redemptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("person", String(128), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("grid", String(64), nullable=False),
    Column("item", String(200), nullable=False),
    Column("points", Integer, nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Index("ix_point_redemptions_account", "person", "scope"),
    Index("ix_point_redemptions_grid_at", "grid", "at"),
)
