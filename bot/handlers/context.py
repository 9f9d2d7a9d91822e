"""What a handler gets: the message, its parse, who sent it, and one transaction to act in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.faq import Faq
from bot.messages import InboundMessage
from bot.nlu.catalog import Catalog
from bot.nlu.port import Parse
from escalation import planner
from escalation.policy import PolicyBook
from tickets.directory import Directory, Node, Person
from tickets.model import Notice, Outcome, Refused, Ticket
from tickets.ports import Notifier, StoredMessage, UnitOfWork


class Conflict(Exception):
    """The ticket changed between read and write (another message or a timer won the race)."""


@dataclass
class Context:
    message: InboundMessage
    stored: StoredMessage
    parse: Parse
    grid: Node
    sender: Person | None
    directory: Directory
    policies: PolicyBook
    catalog: Catalog
    now: datetime
    uow: UnitOfWork
    notifier: Notifier
    render: Callable[[str, Mapping[str, object]], str]
    faq: Faq = field(default_factory=Faq)
    followup_s: int = 600  # a reporter's second report of the same type this soon adds to the first
    written: list[StoredMessage] = field(default_factory=list)
    changed: list[Ticket] = field(default_factory=list)

    @property
    def actor(self) -> str:
        return self.sender.id if self.sender else self.message.sender

    async def apply(self, outcome: Outcome, *, before: Ticket | None) -> Ticket:
        """Persist a transition (fenced on the clock token it was planned from) and its notices."""
        ticket = outcome.ticket
        due = planner.next_due(ticket)
        if before is None:
            await self.uow.tickets.insert(ticket, due)
        elif not await self.uow.tickets.update(ticket, due, expected_token=before.clock.token):
            raise Conflict(f"ticket {ticket.id} changed concurrently")
        await self.uow.tickets.add_events(ticket.id, outcome.events)
        await self.notify(hold_quiet(ticket, outcome.notices, self.now))
        self.changed.append(ticket)
        return ticket

    async def notify(self, notices: tuple[Notice, ...] | list[Notice]) -> None:
        self.written += await self.notifier.notify(self.uow, notices, now=self.now, cause_id=self.stored.id)

    async def say(self, template: str, **params: object) -> None:
        """Post a template to this chat (threaded to the ticket named in `params`, if any)."""
        params.setdefault("reporter", self.actor)
        ticket_id = params.get("ticket_id")
        thread = ticket_id if isinstance(ticket_id, int) else None
        await self.notify([Notice(template, chat_id=self.message.chat_id, ticket_id=thread, params=params)])

    @property
    def attachments(self) -> tuple[dict[str, object], ...]:
        return tuple(a.to_json() for a in self.message.attachments)

    async def refuse(self, refused: Refused) -> None:
        await self.say(refused.reason, **refused.params)


def hold_quiet(ticket: Ticket, notices: tuple[Notice, ...], now: datetime) -> list[Notice]:
    """Pings to staff about a non-urgent case wait for the end of its quiet hours; posts in the
    group (the resident's acknowledgement) go at once."""
    held = planner.calendar_of(ticket).fire_at(now)
    if held <= now:
        return list(notices)
    return [replace(n, not_before=held) if n.person_id else n for n in notices]


Handler = Callable[[Context], Awaitable[None]]
