"""What a handler gets: the message, its parse, who sent it, and one transaction to act in."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
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
        if self.message.private and self.sender is None:
            outcome = replace(outcome, notices=tuple(_private(n) for n in outcome.notices))
        self.written += await self.cases.commit(self.uow, outcome, before=before, now=self.now, cause_id=self.stored.id)
        self.changed.append(outcome.ticket)
        return outcome.ticket

    async def notify(self, notices: tuple[Notice, ...] | list[Notice]) -> None:
        self.written += await self.notifier.notify(self.uow, notices, now=self.now, cause_id=self.stored.id)

    async def say(self, template: Text, **params: object) -> None:
        """Answer the sender in this chat (threaded to the ticket named in `params`, if any); on a
        one-to-one line the answer is private to it."""
        params.setdefault("reporter", self.actor)
        ticket_id = params.get("ticket_id")
        thread = ticket_id if isinstance(ticket_id, int) else None
        notice = Notice(template, chat_id=self.message.chat_id, ticket_id=thread, params=params)
        await self.notify([_private(notice) if self.message.private else notice])

    @property
    def attachments(self) -> tuple[dict[str, object], ...]:
        return tuple(a.to_json() for a in self.message.attachments)

    async def refuse(self, refused: Refused) -> None:
        await self.say(refused.reason, **refused.params)


Handler = Callable[[Context], Awaitable[None]]


def _private(notice: Notice) -> Notice:
    """What a one-to-one line is answered in its grid's chat stays on that line.

    Who is on the line decides what its case changes are: a resident writing one to one (the
    Official Account) chose not to speak in the group, so every chat notice their message causes
    (the acknowledgement naming them and their case, a rating's thanks, a reopen) is private, and
    the pings it causes to staff are in the words for something the group never saw (a consult
    `私信问`, not `在…群里问`). Staff writing to the WeCom app act on the group's cases: the case
    posts that follow (accepted, resolved, escalated) are the group's business and stay group
    posts, as if written there; only the direct answers to them (`Context.say`: refusals, their
    case lists) are private."""
    return replace(notice, private=True)
