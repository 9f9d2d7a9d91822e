"""Keeps the points ledger (积分) in step with the cases and the check-ins, in the caller's transaction.

The case service hands every committed outcome here: a resolve event is stamped `on_time` (resolved
within its phase deadline, which only the planner knows) before it is written; after a change that
can earn or cost points, the case's whole timeline is derived again by the pure rules of
`tickets.points` and the entries not recorded yet are added (the ledger's unique key keeps each
once). `rebuild` runs the same derivation over every case and check-in, so the ledger can always be
recomputed from the timelines (a lost table, a rule fixed in code)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, time

from escalation import planner
from escalation.calendar import LOCAL
from tickets.directory import Directory
from tickets.model import Clock, EventKind, Outcome, Phase, Ticket, TicketEvent, Tier
from tickets.points import ON_TIME, Entry, PointsPolicy, case_entries, checkin_entry
from tickets.ports import TicketQuery, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
# The kinds after which a case's timeline may earn or cost something new.
SCORING = frozenset({EventKind.RATED, EventKind.CONFIRMED, EventKind.CLOSED, EventKind.REOPENED,
                     EventKind.VERIFICATION_FAILED, EventKind.DISPATCHED, EventKind.ARBITRATED})  # fmt: skip
REBUILD_BATCH = 500


def resolved_on_time(before: Ticket, now: datetime) -> bool | None:
    """Is a resolve at `now` within the running deadline of the case as it was (`before`)? The handling
    deadline of a dispatched case runs from the dispatch, also while it waits to be signed for.
    None when no accept or handling deadline runs."""
    if before.clock.phase is Phase.SIGN and before.dispatch is not None:
        before = replace(before, clock=Clock(Phase.RESOLVE, before.dispatch.at, Tier.DEPARTMENT))
    elif before.clock.phase not in (Phase.ACCEPT, Phase.RESOLVE):
        return None
    return now <= planner.phase_end(before)


class PointsLedger:
    def __init__(self, policy: Callable[[], PointsPolicy], directory: Callable[[], Directory]) -> None:
        self._policy = policy
        self._directory = directory

    def stamp(self, outcome: Outcome, before: Ticket | None, now: datetime) -> Outcome:
        """The outcome with its resolve events marked `on_time` (or not), for the closure's points later."""
        if before is None or not any(e.kind is EventKind.RESOLVED for e in outcome.events):
            return outcome
        on_time = resolved_on_time(before, now)
        if on_time is None:
            return outcome
        events = tuple(
            replace(e, detail={**e.detail, ON_TIME: on_time}) if e.kind is EventKind.RESOLVED else e
            for e in outcome.events
        )
        return replace(outcome, events=events)

    async def case_changed(self, uow: UnitOfWork, ticket: Ticket, events: Sequence[TicketEvent]) -> int:
        """After `events` were appended to the case's timeline: record what the timeline now earns."""
        if not any(e.kind in SCORING for e in events):
            return 0
        history = await uow.tickets.events(ticket.id)
        return await uow.points.add(self._entries(ticket, history))

    async def checked_in(self, uow: UnitOfWork, person: str, grid: str, day: str, at: datetime) -> int:
        entry = checkin_entry(person, grid, day, at, self._policy())
        return await uow.points.add([entry]) if entry else 0

    async def rebuild(self, units: UnitOfWorkFactory) -> int:
        """Derive every case's and every check-in's entries again and add those missing; how many were."""
        added, offset = 0, 0
        while True:
            async with units() as uow:
                tickets, _ = await uow.tickets.search(TicketQuery(limit=REBUILD_BATCH, offset=offset))
                timelines = await uow.tickets.events_of([t.id for t in tickets])
                entries = [e for t in tickets for e in self._entries(t, timelines.get(t.id, []))]
                added += await uow.points.add(entries)
            if len(tickets) < REBUILD_BATCH:
                break
            offset += REBUILD_BATCH
        async with units() as uow:
            added += await uow.points.add(await self._checkins(uow))
        log.info("points rebuilt: %d entries added", added)
        return added

    async def _checkins(self, uow: UnitOfWork) -> list[Entry]:
        directory, policy = self._directory(), self._policy()
        found = []
        for person, day in await uow.records.checked_in("0000-00-00", "9999-99-99"):
            who = directory.person(person)
            entry = checkin_entry(person, (who.node if who else None) or "", day, _noon(day), policy)
            if entry is not None:
                found.append(entry)
        return found

    def _entries(self, ticket: Ticket, events: Sequence[TicketEvent]) -> list[Entry]:
        directory = self._directory()
        return case_entries(ticket, events, self._policy(), lambda person: directory.person(person) is not None)


def _noon(day: str) -> datetime:
    """When a rebuilt check-in counts (the check-in row's own time is not read back): noon of its day."""
    return datetime.combine(date.fromisoformat(day), time(12), tzinfo=LOCAL)
