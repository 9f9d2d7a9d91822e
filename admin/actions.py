"""What officers do to a case from the admin web: reassign, escalate, suspend, resume, close, dispatch
to a department (派单), decide an extension (延期), verify a resolve (核查).

Each action runs the pure transition of `tickets.transitions` and commits it through the case service
(`escalation.cases`) in one transaction with an audit entry, like every other change.
A case outside the officer's jurisdiction is refused before anything is read back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from admin import geomap
from admin.auth import Principal
from bot.services import Services
from escalation import planner
from tickets import departments, geo, transitions, verification
from tickets.accounts import AuditEntry
from tickets.directory import Directory
from tickets.model import Outcome, Refused, Ticket, Tier
from tickets.texts import Text

Transition = Callable[[Ticket, str, Directory, datetime], Outcome]


class NotFound(Exception):
    """No such ticket, or not in the principal's jurisdiction (the same answer, on purpose)."""


ACTIONS: dict[str, tuple[str, Callable[[str, str], Transition]]] = {
    # name: (label, (argument, note) → transition)
    "reassign": ("改派", lambda worker, note: lambda t, who, d, now: transitions.reassign(t, who, worker, d, now)),
    "escalate": ("提级", lambda _, note: lambda t, who, d, now: transitions.escalate(t, who, note, d, now)),
    "suspend": ("挂账", lambda _, note: lambda t, who, d, now: transitions.suspend(t, who, note, now)),
    "resume": ("解除挂账", lambda _, note: lambda t, who, d, now: transitions.resume(t, who, now)),
    "close": ("结案", lambda _, note: lambda t, who, d, now: transitions.close_by_staff(t, who, note, now)),
    "dispatch": ("派单", lambda dept, note: lambda t, who, d, now: _dispatch(t, who, dept, d, now)),
    "approve_extension": ("同意延期", lambda _, note: lambda t, who, d, now: _decide(t, who, True, d, now)),
    "refuse_extension": ("不同意延期", lambda _, note: lambda t, who, d, now: _decide(t, who, False, d, now)),
    "verify_pass": ("核查通过", lambda _, note: lambda t, who, d, now: _verify(t, who, True, note, d, now)),
    "verify_fail": ("核查不通过", lambda _, note: lambda t, who, d, now: _verify(t, who, False, note, d, now)),
}


def _dispatch(ticket: Ticket, who: str, department: str, d: Directory, now: datetime) -> Outcome:
    found = d.department(department)
    if found is None:
        names = "、".join(x.name for x in d.departments)
        raise Refused(Text.UNKNOWN_DEPARTMENT, **transitions.notice_params(ticket, note=department, lines=names))
    return departments.dispatch(ticket, who, d.tier_of(who) or Tier.GRID, found, d, now)


def _decide(ticket: Ticket, who: str, approve: bool, d: Directory, now: datetime) -> Outcome:
    outcome = departments.decide_extension(ticket, who, d.tier_of(who), approve, d, now)
    return replace(outcome, ticket=planner.skip_past_nags(outcome.ticket, now))


def _verify(ticket: Ticket, who: str, passed: bool, reason: str, d: Directory, now: datetime) -> Outcome:
    return verification.verify(ticket, who, d.tier_of(who), passed, reason, d, now)


async def act(services: Services, who: Principal, ticket_id: int, action: str, argument: str, note: str,
              now: datetime) -> Ticket:  # fmt: skip
    """Carry out `action`; raises NotFound, Refused (with a template key) or StaleTicket."""
    if action not in ACTIONS:
        raise KeyError(action)
    transition = ACTIONS[action][1](argument.strip(), note.strip()[:500])
    directory = services.directory()
    async with services.uow() as uow:
        before = await uow.tickets.get(ticket_id, for_update=True)
        if before is None or (who.grids is not None and before.grid not in who.grids):
            raise NotFound(ticket_id)
        outcome = transition(before, who.account.person_id, directory, now)
        ticket = outcome.ticket
        await services.cases.commit(uow, outcome, before=before, now=now)
        await uow.accounts.audit(AuditEntry(now, who.account.username, f"ticket.{action}", f"ticket:{ticket_id}",
                                            _summary(before), {**_summary(ticket), "note": note[:500],
                                                               "argument": argument}))  # fmt: skip
    services.cases.committed([ticket])
    return ticket


class NotNearby(Exception):
    """The person was not seen near the case lately (or the case has no point): nothing changes."""


async def dispatch_nearby(services: Services, who: Principal, ticket_id: int, person_id: str, now: datetime,
                          position_s: float) -> tuple[Ticket, int]:  # fmt: skip
    """就近派单: hand the case to someone last seen within `geomap.NEAR_M` of it; the distance is measured
    here, in the transaction, never taken from the form. Returns the ticket and the metres."""
    directory = services.directory()
    async with services.uow() as uow:
        before = await uow.tickets.get(ticket_id, for_update=True)
        if before is None or (who.grids is not None and before.grid not in who.grids):
            raise NotFound(ticket_id)
        at = await geomap.point_of_case(uow, directory, before)
        seen = await uow.places.positions(geomap.since(now, position_s), [person_id])
        if at is None or not seen:
            raise NotNearby("工单没有位置坐标，或此人近期未共享位置")
        metres = round(geo.distance_m(at, seen[0].at))
        if metres > geomap.NEAR_M:
            raise NotNearby(f"此人距现场约 {metres} 米，超出 {geomap.NEAR_M} 米")
        outcome = transitions.dispatch_nearby(before, who.account.person_id, person_id, metres, directory, now)
        await services.cases.commit(uow, outcome, before=before, now=now)
        after = {**_summary(outcome.ticket), "metres": metres}
        entry = AuditEntry(now, who.account.username, "ticket.dispatch_nearby", f"ticket:{ticket_id}",
                           _summary(before), after)  # fmt: skip
        await uow.accounts.audit(entry)
    services.cases.committed([outcome.ticket])
    return outcome.ticket, metres


def _summary(t: Ticket) -> dict[str, object]:
    return {"state": t.state.value, "tier": t.tier.value, "assignee": t.assignee, "suspension": t.suspension,
            "close_reason": t.close_reason.value if t.close_reason else None, "department": t.department,
            "returns": t.returns, "deadline": t.deadline.isoformat() if t.deadline else None}  # fmt: skip
