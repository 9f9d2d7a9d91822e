"""The one way to change a case: commit an `Outcome` of a pure transition.

Every caller that changes a ticket (a chat handler, an officer's action in the admin web, an
escalation step) builds an `Outcome` with a function of `tickets.transitions` and hands it to
`CaseService.commit` inside its unit of work. The service computes the next deadline, inserts the
row or updates it fenced on the clock token the outcome was planned from, appends the timeline
events and turns the notices into outbox rows (staff pings held through quiet hours). After the
transaction commits, the caller hands the changed tickets to `committed`, which arms the timers
due soon and wakes the outbox. With a points ledger (积分, `escalation.points`) it keeps the ledger
in the same transaction; an event feed given at composition (the city platform's push outbox)
gets the appended events in the same transaction too, and so do the figures' rollups
(`escalation.figures.FigureKeeper`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from escalation import planner
from escalation.figures import FigureKeeper
from escalation.points import PointsLedger
from tickets.model import Notice, Outcome, Ticket, TicketEvent
from tickets.ports import Notifier, StoredMessage, UnitOfWork

log = logging.getLogger(__name__)
HORIZON = timedelta(minutes=10)  # timers are held in memory only for steps due this soon


class StaleTicket(Exception):
    """The ticket changed between our read and our write (another message, an officer or a timer
    won the race); the transaction rolls back and the caller may retry from a fresh read."""


class Trigger(Protocol):
    """What arms a wake-up for a ticket (APScheduler in production, a list in tests)."""

    def arm(self, ticket_id: int, at: datetime, token: int) -> None: ...


class NoTrigger:
    """No timers in this process (CLI commands, tests that fire by hand)."""

    def arm(self, ticket_id: int, at: datetime, token: int) -> None:
        return None


class EventFeed(Protocol):
    """Where a case's new timeline events also go, written in the same transaction as the events
    (the city platform's push outbox, `bot.city_push.CityFeed`)."""

    async def publish(self, uow: UnitOfWork, ticket: Ticket, events: Sequence[TicketEvent], now: datetime) -> None: ...


class CaseService:
    def __init__(
        self,
        notifier: Notifier,
        now: Callable[[], datetime],
        trigger: Trigger | None = None,
        wake: Callable[[], None] = lambda: None,
        points: PointsLedger | None = None,
        feed: EventFeed | None = None,
        figures: FigureKeeper | None = None,
    ) -> None:
        self._notifier = notifier
        self.points = points  # the points ledger kept with each change (None: no points)
        self._now = now
        self._trigger: Trigger = trigger or NoTrigger()
        self._wake = wake
        self._feed = feed
        self.figures = figures  # the figures' rollups kept with each change (None: not kept, e.g. a bench)

    async def commit(
        self, uow: UnitOfWork, outcome: Outcome, *, before: Ticket | None, now: datetime, cause_id: int | None = None
    ) -> list[StoredMessage]:
        """Write `outcome` in the caller's transaction; raises StaleTicket when `before` is not
        what the row holds any more. Returns the outbox rows written for its notices."""
        if self.points is not None:
            outcome = self.points.stamp(outcome, before, now)
        ticket = outcome.ticket
        due, late = planner.next_due(ticket), planner.overdue_at(ticket)
        if before is None:
            await uow.tickets.insert(ticket, due, due_at=late)
        elif not await uow.tickets.update(ticket, due, expected_token=before.clock.token, due_at=late):
            raise StaleTicket(f"ticket {ticket.id} changed concurrently")
        await uow.tickets.add_events(ticket.id, outcome.events)
        if self.figures is not None:
            await self.figures.case_changed(uow, ticket, outcome.events)
        if self.points is not None:
            await self.points.case_changed(uow, ticket, outcome.events)
        if self._feed is not None and outcome.events:
            await self._feed.publish(uow, ticket, outcome.events, now)
        notices = hold_quiet(ticket, outcome.notices, now)
        return await self._notifier.notify(uow, notices, now=now, cause_id=cause_id)

    def committed(self, tickets: Iterable[Ticket] = ()) -> None:
        """After the transaction committed: arm the changed tickets' near timers, wake the outbox."""
        for ticket in tickets:
            self.arm(ticket)
        self._wake()

    def arm(self, ticket: Ticket) -> None:
        """A step due within HORIZON gets its timer now; later ones are armed by the periodic
        `EscalationEngine.rearm_all` (and anything missed is fired by the audit)."""
        at = planner.next_due(ticket)
        if at is not None and at <= self._now() + HORIZON:
            self._trigger.arm(ticket.id, at, ticket.clock.token)

    def arm_all(self, pending: Sequence[tuple[int, datetime, int]]) -> None:
        for ticket_id, at, token in pending:
            self._trigger.arm(ticket_id, at, token)


def hold_quiet(ticket: Ticket, notices: Sequence[Notice], now: datetime) -> list[Notice]:
    """Pings to staff about a non-urgent case wait for the end of its quiet hours; posts in the
    group (the resident's acknowledgement) go at once."""
    held = planner.calendar_of(ticket).fire_at(now)
    if held <= now:
        return list(notices)
    return [replace(n, not_before=held) if n.person_id else n for n in notices]
