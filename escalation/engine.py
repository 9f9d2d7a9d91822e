"""The timer engine: the ticket row is the truth, timers only say "look at ticket N now".

Each firing runs in one transaction: lock the row, plan with the pure planner, write the
ticket only if its clock token is unchanged (fencing), write events and outbox rows, commit.
Only then is the next timer armed. A periodic audit fires anything a lost timer missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from escalation import planner
from tickets.directory import Directory
from tickets.model import Ticket
from tickets.ports import Notifier, UnitOfWorkFactory

log = logging.getLogger(__name__)
HORIZON = timedelta(minutes=10)  # timers are held in memory only for steps due this soon


class Trigger(Protocol):
    """What arms a wake-up for a ticket (APScheduler in production, a list in tests)."""

    def arm(self, ticket_id: int, at: datetime, token: int) -> None: ...


class StaleClock(Exception):
    """Someone else changed the ticket between our read and our write; the transaction rolls back."""


class EscalationEngine:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        notifier: Notifier,
        directory: Callable[[], Directory],
        now: Callable[[], datetime],
        trigger: Trigger | None = None,
    ) -> None:
        self._uow = uow
        self._notifier = notifier
        self._directory = directory
        self._now = now
        self.trigger = trigger

    async def fire(self, ticket_id: int, token: int | None = None) -> bool:
        """Carry out the due steps of one ticket. Returns whether anything happened."""
        now = self._now()
        async with self._uow() as uow:
            ticket = await uow.tickets.get(ticket_id, for_update=True)
            if ticket is None:
                return False
            outcome = planner.fire(ticket, token, self._directory(), now)
            if outcome is None:
                return False
            written = await uow.tickets.update(
                outcome.ticket, planner.next_due(outcome.ticket), expected_token=ticket.clock.token
            )
            if not written:
                raise StaleClock(f"ticket {ticket_id} changed underneath the escalation engine")
            await uow.tickets.add_events(ticket_id, outcome.events)
            await self._notifier.notify(uow, outcome.notices, now=now)
        log.info("ticket %s: fired %s", ticket_id, [e.kind for e in outcome.events])
        self.arm(outcome.ticket)
        return True

    async def audit(self, limit: int = 500) -> int:
        """Fire every ticket whose deadline has passed; cost grows with the number due, not open."""
        async with self._uow() as uow:
            due = await uow.tickets.due(self._now(), limit)
        fired = 0
        for ticket_id in due:
            try:
                fired += await self.fire(ticket_id)
            except StaleClock:
                log.info("ticket %s: changed while auditing, left for the next pass", ticket_id)
        return fired

    async def rearm_all(self) -> int:
        """Arm a timer for every ticket with a step due within HORIZON (on start, then every
        HORIZON / 2 from the scheduler): a province's 100,000 open cases do not each hold a
        timer in memory, only the next minutes' do. The row's `next_due_at` and token are enough."""
        async with self._uow() as uow:
            pending = await uow.tickets.scheduled(self._now() + HORIZON)
        if self.trigger is not None:
            for ticket_id, at, token in pending:
                self.trigger.arm(ticket_id, at, token)
        return len(pending)

    def arm(self, ticket: Ticket) -> None:
        """After a change: a step due within HORIZON gets its timer now; later ones are armed by
        the periodic `rearm_all` (and anything missed is fired by the audit)."""
        at = planner.next_due(ticket)
        if at is not None and self.trigger is not None and at <= self._now() + HORIZON:
            self.trigger.arm(ticket.id, at, ticket.clock.token)
