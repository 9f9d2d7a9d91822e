"""The timer engine: the ticket row is the truth, timers only say "look at ticket N now".

Each firing runs in one transaction: lock the row, plan with the pure planner, commit the
outcome through the case service (fenced on the clock token, events, outbox rows). Only then is
the next timer armed. A periodic audit fires anything a lost timer missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from escalation import planner
from escalation.cases import HORIZON, CaseService, StaleTicket
from tickets.directory import Directory
from tickets.ports import UnitOfWorkFactory

log = logging.getLogger(__name__)


class EscalationEngine:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        cases: CaseService,
        directory: Callable[[], Directory],
        now: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._cases = cases
        self._directory = directory
        self._now = now

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
            await self._cases.commit(uow, outcome, before=ticket, now=now)
        log.info("ticket %s: fired %s", ticket_id, [e.kind for e in outcome.events])
        self._cases.committed([outcome.ticket])
        return True

    async def audit(self, limit: int = 500) -> int:
        """Fire every ticket whose deadline has passed; cost grows with the number due, not open."""
        async with self._uow() as uow:
            due = await uow.tickets.due(self._now(), limit)
        fired = 0
        for ticket_id in due:
            try:
                fired += await self.fire(ticket_id)
            except StaleTicket:
                log.info("ticket %s: changed while auditing, left for the next pass", ticket_id)
        return fired

    async def rearm_all(self) -> int:
        """Arm a timer for every ticket with a step due within HORIZON (on start, then every
        HORIZON / 2 from the scheduler): a province's 100,000 open cases do not each hold a
        timer in memory, only the next minutes' do. The row's `next_due_at` and token are enough."""
        async with self._uow() as uow:
            pending = await uow.tickets.scheduled(self._now() + HORIZON)
        self._cases.arm_all(pending)
        return len(pending)
