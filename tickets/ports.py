"""The seams between the core and the outside world. Adapters live in `storage/` and `bot/`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self

from tickets.model import Notice, Ticket, TicketEvent, TicketState


class DuplicateMessage(Exception):
    """A message with this (chat, client_id) is already stored; the transaction is rolled back."""


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Delivery(StrEnum):
    RECEIVED = "received"  # inbound, stored, not yet interpreted
    HANDLED = "handled"  # inbound, interpreted
    FAILED = "failed"  # inbound whose handling raised; kept for a retry
    PENDING = "pending"  # outbound, waiting for the channel
    SENT = "sent"
    DEAD = "dead"  # outbound, gave up after the last attempt


@dataclass(frozen=True)
class StoredMessage:
    """One line of a transcript: a chat message (chat_id) or a direct message (person_id)."""

    id: int
    direction: Direction
    sender: str
    text: str
    created_at: datetime
    status: Delivery
    chat_id: str | None = None
    person_id: str | None = None
    ticket_id: int | None = None
    reply_to: int | None = None
    client_id: str | None = None
    cause_id: int | None = None
    channel: str = "web"
    attempts: int = 0
    attachments: tuple[Mapping[str, object], ...] = ()  # photos, shared places (as the channel gave them)


@dataclass(frozen=True)
class NewMessage:
    direction: Direction
    sender: str
    text: str
    status: Delivery
    chat_id: str | None = None
    person_id: str | None = None
    ticket_id: int | None = None
    reply_to: int | None = None
    client_id: str | None = None
    cause_id: int | None = None
    channel: str = "web"
    attachments: tuple[Mapping[str, object], ...] = ()


class TicketStore(Protocol):
    async def next_id(self) -> int: ...

    async def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None: ...

    async def insert(self, ticket: Ticket, next_due_at: datetime | None) -> None: ...

    async def update(self, ticket: Ticket, next_due_at: datetime | None, expected_token: int) -> bool:
        """Write the ticket only if its stored clock token is still `expected_token` (fencing)."""
        ...

    async def add_events(self, ticket_id: int, events: Sequence[TicketEvent]) -> None: ...

    async def events(self, ticket_id: int) -> list[TicketEvent]: ...

    async def due(self, now: datetime, limit: int) -> list[int]: ...

    async def scheduled(self) -> list[tuple[int, datetime]]: ...

    async def find(
        self,
        *,
        chat_id: str | None = None,
        reporter: str | None = None,
        assignee: str | None = None,
        states: Sequence[TicketState] = (),
        ticket_type: str | None = None,
        grids: Sequence[str] = (),
        limit: int = 200,
    ) -> list[Ticket]: ...


class MessageStore(Protocol):
    async def add(self, message: NewMessage, now: datetime) -> StoredMessage: ...

    async def get(self, message_id: int, *, for_update: bool = False) -> StoredMessage | None: ...

    async def by_client_id(self, chat_id: str, client_id: str) -> StoredMessage | None: ...

    async def caused_by(self, cause_id: int) -> list[StoredMessage]: ...

    async def set_status(
        self, message_id: int, status: Delivery, *, error: str | None = None, intent: str | None = None
    ) -> None: ...

    async def due_outbound(self, now: datetime, limit: int) -> list[StoredMessage]: ...

    async def record_failure(self, message_id: int, error: str, retry_at: datetime | None) -> None: ...

    async def chat(self, chat_id: str, after: int, limit: int) -> list[StoredMessage]: ...

    async def inbox(self, person_id: str, after: int, limit: int) -> list[StoredMessage]: ...


class UnitOfWork(Protocol):
    """One database transaction; leaving the block commits, an exception rolls back."""

    tickets: TicketStore
    messages: MessageStore

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class Notifier(Protocol):
    """Turns notices into outbox rows inside the caller's transaction."""

    async def notify(
        self, uow: UnitOfWork, notices: Sequence[Notice], *, now: datetime, cause_id: int | None = None
    ) -> list[StoredMessage]: ...
