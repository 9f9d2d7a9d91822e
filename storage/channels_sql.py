"""Channel bindings: chats, identities, remembered platform messages and reply windows in SQL
(the `ChannelStore` port)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t

ONCE = "@once"  # the channel_messages "channel" of spent one-time keys


class SqlChannelStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def bind_chat(self, channel: str, external_id: str, chat_id: str) -> None:
        await self._upsert(t.channel_chats, {"channel": channel, "external_id": external_id, "chat_id": chat_id})

    async def chat_of(self, channel: str, external_id: str) -> str | None:
        c = t.channel_chats.c
        row = await self._c.execute(select(c.chat_id).where(c.channel == channel, c.external_id == external_id))
        return row.scalar_one_or_none()

    async def external_chats(self, channel: str, chat_id: str) -> list[str]:
        c = t.channel_chats.c
        rows = await self._c.execute(select(c.external_id).where(c.channel == channel, c.chat_id == chat_id))
        return [str(r) for r in rows.scalars()]

    async def bindings(self) -> list[tuple[str, str, str]]:
        c = t.channel_chats.c
        rows = await self._c.execute(select(c.channel, c.external_id, c.chat_id).order_by(c.chat_id, c.channel))
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def link_person(self, channel: str, external_id: str, person_id: str) -> None:
        values = {"channel": channel, "external_id": external_id, "person_id": person_id,
                  "linked_at": datetime.now(UTC)}  # fmt: skip
        # already linked to this person: keep the time it was linked (it decides the preferred channel)
        await self._upsert(t.identities, values, unless_same="person_id")

    async def preferred_channel(self, person_id: str) -> str | None:
        c = t.identities.c
        query = select(c.channel).where(c.person_id == person_id).order_by(c.linked_at.desc()).limit(1)
        return (await self._c.execute(query)).scalar_one_or_none()

    async def person_of(self, channel: str, external_id: str) -> str | None:
        c = t.identities.c
        row = await self._c.execute(select(c.person_id).where(c.channel == channel, c.external_id == external_id))
        return row.scalar_one_or_none()

    async def external_person(self, channel: str, person_id: str) -> str | None:
        c = t.identities.c
        query = select(c.external_id).where(c.channel == channel, c.person_id == person_id).limit(1)
        return (await self._c.execute(query)).scalar_one_or_none()

    async def remember(self, channel: str, external_chat: str, external_id: str, message_id: int) -> None:
        values = {"channel": channel, "external_chat": external_chat, "external_id": external_id,
                  "message_id": message_id}  # fmt: skip
        try:
            async with self._c.begin_nested():
                await self._c.execute(t.channel_messages.insert().values(**values))
        except IntegrityError:
            pass  # already remembered (a platform retry)

    async def message_of(self, channel: str, external_chat: str, external_id: str) -> int | None:
        c = t.channel_messages.c
        query = select(c.message_id).where(
            c.channel == channel, c.external_chat == external_chat, c.external_id == external_id
        )
        found = (await self._c.execute(query)).scalar_one_or_none()
        return int(found) if found is not None else None

    async def external_message(self, channel: str, external_chat: str, message_id: int) -> str | None:
        c = t.channel_messages.c
        query = (
            select(c.external_id)
            .where(c.channel == channel, c.external_chat == external_chat, c.message_id == message_id)
            .limit(1)
        )
        return (await self._c.execute(query)).scalar_one_or_none()

    async def marked(self, channel: str, external_chat: str, prefix: str) -> list[int]:
        c = t.channel_messages.c
        query = (
            select(c.message_id)
            .where(c.channel == channel, c.external_chat == external_chat, c.external_id.startswith(prefix))
            .order_by(c.message_id)
        )
        return [int(i) for i in (await self._c.execute(query)).scalars()]

    async def forget(self, channel: str, external_chat: str, external_id: str) -> None:
        c = t.channel_messages.c
        await self._c.execute(
            t.channel_messages.delete().where(
                c.channel == channel, c.external_chat == external_chat, c.external_id == external_id
            )
        )

    async def use_once(self, key: str) -> bool:
        """A spent key is a mark in `channel_messages` (channel `@once`, like the WeChat adapter's
        held/out marks): no table of its own, so no migration, a few bytes per printed code. The
        primary key makes it atomic: of two transactions spending one key, one gets False."""
        values = {"channel": ONCE, "external_chat": "", "external_id": key, "message_id": 0}
        try:
            async with self._c.begin_nested():
                await self._c.execute(t.channel_messages.insert().values(**values))
        except IntegrityError:
            return False
        return True

    async def open_window(self, channel: str, external_id: str, at: datetime) -> None:
        await self._upsert(
            t.channel_windows, {"channel": channel, "external_id": external_id, "opened_at": at, "used": 0}
        )

    async def _upsert(self, table: Table, values: dict[str, Any], unless_same: str | None = None) -> None:
        """Insert, or update the row with the same (channel, external_id) in one statement: a
        delete-then-insert raced itself when two processes took a platform's retries at once."""
        insert = pg_insert(table) if self._c.dialect.name == "postgresql" else sqlite_insert(table)
        statement = insert.values(**values)
        changes = {k: statement.excluded[k] for k in values if k not in ("channel", "external_id")}
        where = table.c[unless_same] != statement.excluded[unless_same] if unless_same else None
        await self._c.execute(statement.on_conflict_do_update(index_elements=["channel", "external_id"],
                                                              set_=changes, where=where))  # fmt: skip

    async def use_quota(
        self, channel: str, external_id: str, now: datetime, amount: int, limit: int, span_s: int
    ) -> bool:
        """Take `amount` from a budget of `limit` per `span_s` seconds, counted from the first use of a
        span (a span that ran out starts afresh). One conditional update takes it, so two processes
        never both spend the last of it."""
        c = t.channel_windows.c
        insert = pg_insert if self._c.dialect.name == "postgresql" else sqlite_insert
        fresh = insert(t.channel_windows).values(channel=channel, external_id=external_id, opened_at=now, used=0)
        start = now - timedelta(seconds=span_s)
        await self._c.execute(fresh.on_conflict_do_update(index_elements=["channel", "external_id"],
                                                          set_={"opened_at": now, "used": 0},
                                                          where=c.opened_at <= start))  # fmt: skip
        result = await self._c.execute(
            update(t.channel_windows)
            .where(c.channel == channel, c.external_id == external_id, c.used + amount <= limit, c.opened_at > start)
            .values(used=c.used + amount)
        )
        return bool(result.rowcount)

    async def use_window(self, channel: str, external_id: str, now: datetime, limit: int, span_s: int) -> bool:
        c = t.channel_windows.c
        result = await self._c.execute(
            update(t.channel_windows)
            .where(c.channel == channel, c.external_id == external_id, c.used < limit,
                   c.opened_at > now - timedelta(seconds=span_s))
            .values(used=c.used + 1)
        )  # fmt: skip
        return bool(result.rowcount)
