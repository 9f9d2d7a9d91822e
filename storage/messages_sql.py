"""Inbound and outbound messages, and the outbox's delivery state, in SQL (the `MessageStore` port)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from storage.prepared import StatementRunner
from storage.rows import _message
from tickets.ports import Delivery, Direction, DuplicateMessage, NewMessage, StoredMessage

# The hot path's statements are built once: building a SQLAlchemy statement per call (operators,
# bind parameters, the values clause) was a quarter of the bot's CPU in bench/ingest.py.
# They run through `self._run`: on PostgreSQL straight on asyncpg (storage/prepared.py).
_INSERT_MESSAGE = t.messages.insert().returning(t.messages.c.id)
_MESSAGE_BY_ID = select(t.messages).where(t.messages.c.id == bindparam("b_id"))
_MESSAGE_BY_CLIENT_ID = select(t.messages).where(
    t.messages.c.chat_id == bindparam("b_chat"), t.messages.c.client_id == bindparam("b_client")
)
_MESSAGES_CAUSED_BY = select(t.messages).where(t.messages.c.cause_id == bindparam("b_cause")).order_by(t.messages.c.id)
_PREVIOUS_FROM = (
    select(t.messages)
    .where(
        t.messages.c.chat_id == bindparam("b_chat"),
        t.messages.c.sender == bindparam("b_sender"),
        t.messages.c.direction == Direction.IN.value,
        t.messages.c.id < bindparam("b_before"),
    )
    .order_by(t.messages.c.id.desc())
    .limit(1)
)
_SET_MESSAGE_STATUS = update(t.messages).where(t.messages.c.id == bindparam("b_id"))
_CLAIM_HANDLED = (
    update(t.messages)
    .where(t.messages.c.id == bindparam("b_id"), t.messages.c.status != Delivery.HANDLED.value)
    .values(status=Delivery.HANDLED.value, error=None, intent=bindparam("b_intent"))
)
_MARK_SENT = (
    update(t.messages).where(t.messages.c.id.in_(bindparam("b_ids", expanding=True))).values(status="sent", error=None)
)
_DUE_OUTBOUND = (
    select(t.messages)
    .where(t.messages.c.status == Delivery.PENDING.value, t.messages.c.next_attempt_at <= bindparam("b_now"))
    .order_by(t.messages.c.id)
    .limit(bindparam("b_limit"))
)


class SqlMessageStore:
    def __init__(self, conn: AsyncConnection, run: StatementRunner) -> None:
        self._c = conn
        self._run = run  # the hot statements (on PostgreSQL straight on asyncpg)

    async def add(self, message: NewMessage, now: datetime) -> StoredMessage:
        values = {
            "direction": message.direction.value,
            "channel": message.channel,
            "chat_id": message.chat_id,
            "person_id": message.person_id,
            "sender": message.sender,
            "text": message.text,
            "ticket_id": message.ticket_id,
            "reply_to": message.reply_to,
            "client_id": message.client_id,
            "cause_id": message.cause_id,
            "status": message.status.value,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": (message.not_before or now) if message.status is Delivery.PENDING else None,
            "attachments": [dict(a) for a in message.attachments],
            "template": message.template,
            "private": message.private,
        }
        try:
            new_id = await self._run.scalar(_INSERT_MESSAGE, values)
        except IntegrityError as exc:
            raise DuplicateMessage(f"{message.chat_id}/{message.client_id}") from exc
        return _message({**values, "id": new_id})

    async def get(self, message_id: int) -> StoredMessage | None:
        row = await self._run.first(_MESSAGE_BY_ID, {"b_id": message_id})
        return _message(row) if row else None

    async def by_client_id(self, chat_id: str, client_id: str) -> StoredMessage | None:
        row = await self._run.first(_MESSAGE_BY_CLIENT_ID, {"b_chat": chat_id, "b_client": client_id})
        return _message(row) if row else None

    async def caused_by(self, cause_id: int) -> list[StoredMessage]:
        return [_message(r) for r in await self._run.rows(_MESSAGES_CAUSED_BY, {"b_cause": cause_id})]

    async def previous_from(self, chat_id: str, sender: str, before_id: int) -> StoredMessage | None:
        rows = await self._run.rows(_PREVIOUS_FROM, {"b_chat": chat_id, "b_sender": sender, "b_before": before_id})
        return _message(rows[0]) if rows else None

    async def set_status(self, message_id: int, status: Delivery, *, error: str | None = None) -> None:
        await self._run.count(_SET_MESSAGE_STATUS, {"b_id": message_id, "status": status.value, "error": error})

    async def claim_handled(self, message_id: int, intent: str | None) -> bool:
        return await self._run.count(_CLAIM_HANDLED, {"b_id": message_id, "b_intent": intent}) == 1

    async def mark_sent(self, message_ids: Sequence[int]) -> None:
        await self._run.count(_MARK_SENT, {"b_ids": list(message_ids)})

    async def due_outbound(self, now: datetime, limit: int) -> list[StoredMessage]:
        return [_message(r) for r in await self._run.rows(_DUE_OUTBOUND, {"b_now": now, "b_limit": limit})]

    async def record_failure(self, message_id: int, error: str, retry_at: datetime | None) -> None:
        """One failed delivery attempt; no `retry_at` means give up (dead letter)."""
        c = t.messages.c
        status = Delivery.PENDING if retry_at else Delivery.DEAD
        await self._c.execute(
            update(t.messages)
            .where(c.id == message_id)
            .values(status=status.value, error=error, attempts=c.attempts + 1, next_attempt_at=retry_at)
        )

    async def outbox_counts(self) -> dict[str, int]:
        c = t.messages.c
        statuses = [Delivery.PENDING.value, Delivery.DEAD.value]
        rows = await self._c.execute(
            select(c.status, func.count()).where(c.direction == Direction.OUT.value, c.status.in_(statuses))
            .group_by(c.status)
        )  # fmt: skip
        return {str(k): int(n) for k, n in rows}

    async def by_status(self, status: Delivery, limit: int) -> list[tuple[StoredMessage, str | None]]:
        """Outbound rows in a delivery state (dead letters for the admins), newest first, with their last error."""
        c = t.messages.c
        query = select(t.messages).where(c.direction == Direction.OUT.value, c.status == status.value)
        rows = (await self._c.execute(query.order_by(c.id.desc()).limit(limit))).mappings().all()
        return [(_message(r), r["error"]) for r in rows]

    async def retry(self, message_id: int, now: datetime) -> bool:
        """A dead letter goes back to pending with fresh attempts; False if it is not a dead letter."""
        c = t.messages.c
        result = await self._c.execute(
            update(t.messages)
            .where(c.id == message_id, c.status == Delivery.DEAD.value)
            .values(status=Delivery.PENDING.value, attempts=0, next_attempt_at=now)
        )
        return bool(result.rowcount)

    async def chat(self, chat_id: str, after: int, limit: int) -> list[StoredMessage]:
        c = t.messages.c
        return await self._many((c.chat_id == chat_id) & c.person_id.is_(None) & c.private.is_(false()), after, limit)

    async def inbox(self, person_id: str, after: int, limit: int) -> list[StoredMessage]:
        return await self._many(t.messages.c.person_id == person_id, after, limit)

    async def of_ticket(self, ticket_id: int, limit: int) -> list[StoredMessage]:
        """Threaded messages, and the residents' messages that caused them (an inbound report has no ticket yet)."""
        c = t.messages.c
        causes = select(c.cause_id).where(c.ticket_id == ticket_id, c.cause_id.is_not(None))
        return await self._many((c.ticket_id == ticket_id) | c.id.in_(causes), 0, limit)

    async def _many(self, where: Any, after: int, limit: int) -> list[StoredMessage]:
        query = select(t.messages).where(where, t.messages.c.id > after).order_by(t.messages.c.id).limit(limit)
        return [_message(r) for r in (await self._c.execute(query)).mappings()]
