"""What a handler gets: the message, its parse, who sent it, and one transaction to act in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.faq import Faq
from bot.messages import InboundMessage
from bot.nlu.catalog import Catalog
from bot.nlu.port import Parse
from escalation.cases import CaseService
from escalation.policy import PolicyBook
from tickets.directory import Directory, Node, Person
from tickets.model import Notice, Outcome, Refused, Ticket
from tickets.ports import Notifier, StoredMessage, UnitOfWork
from tickets.texts import Text


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
    cases: CaseService
    notifier: Notifier
    render: Callable[[str, Mapping[str, object]], str]
    faq: Faq = field(default_factory=Faq)
    followup_s: int = 600  # a reporter's second report of the same type this soon adds to the first
    extra_reports: tuple[tuple[Parse, str], ...] = ()  # more problems in the same message (parse, its part)
    reading: str | None = None  # what the handler read the message as, when not the parse's intent (recorded)
    written: list[StoredMessage] = field(default_factory=list)
    changed: list[Ticket] = field(default_factory=list)

    @property
    def actor(self) -> str:
        return self.sender.id if self.sender else self.message.sender

    async def apply(self, outcome: Outcome, *, before: Ticket | None) -> Ticket:
        """Commit a transition through the case service (fenced on the clock token it was planned from)."""
        self.written += await self.cases.commit(self.uow, outcome, before=before, now=self.now, cause_id=self.stored.id)
        self.changed.append(outcome.ticket)
        return outcome.ticket

    async def notify(self, notices: tuple[Notice, ...] | list[Notice]) -> None:
        self.written += await self.notifier.notify(self.uow, notices, now=self.now, cause_id=self.stored.id)

    async def say(self, template: Text, **params: object) -> None:
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


Handler = Callable[[Context], Awaitable[None]]
