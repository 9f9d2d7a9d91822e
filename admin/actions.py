"""What officers do to a case from the admin web: reassign, escalate, suspend, resume, close.

Each action runs the pure transition of `tickets.loop` in one transaction, fenced on the clock
token like every other change, writes its notices to the outbox and an audit entry, then arms the
new deadline. A case outside the officer's jurisdiction is refused before anything is read back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from admin.auth import Principal
from bot.handlers.context import Conflict, hold_quiet
from bot.services import Services
from escalation import planner
from tickets import loop
from tickets.accounts import AuditEntry
from tickets.directory import Directory
from tickets.model import Outcome, Ticket

Transition = Callable[[Ticket, str, Directory, datetime], Outcome]


class NotFound(Exception):
    """No such ticket, or not in the principal's jurisdiction (the same answer, on purpose)."""


ACTIONS: dict[str, tuple[str, Callable[[str, str], Transition]]] = {
    # name: (label, (argument, note) → transition)
    "reassign": ("改派", lambda worker, note: lambda t, who, d, now: loop.reassign(t, who, worker, d, now)),
    "escalate": ("提级", lambda _, note: lambda t, who, d, now: loop.escalate(t, who, note, d, now)),
    "suspend": ("挂账", lambda _, note: lambda t, who, d, now: loop.suspend(t, who, note, now)),
    "resume": ("解除挂账", lambda _, note: lambda t, who, d, now: loop.resume(t, who, now)),
    "close": ("结案", lambda _, note: lambda t, who, d, now: loop.close_by_staff(t, who, note, now)),
}


async def act(services: Services, who: Principal, ticket_id: int, action: str, argument: str, note: str,
              now: datetime) -> Ticket:  # fmt: skip
    """Carry out `action`; raises NotFound, Refused (with a template key) or Conflict."""
    if action not in ACTIONS or services.notifier is None:
        raise KeyError(action)
    transition = ACTIONS[action][1](argument.strip(), note.strip()[:500])
    directory = services.directory()
    async with services.uow() as uow:
        before = await uow.tickets.get(ticket_id, for_update=True)
        if before is None or (who.grids is not None and before.grid not in who.grids):
            raise NotFound(ticket_id)
        outcome = transition(before, who.account.person_id, directory, now)
        ticket = outcome.ticket
        if not await uow.tickets.update(ticket, planner.next_due(ticket), expected_token=before.clock.token):
            raise Conflict(f"ticket {ticket_id} changed concurrently")
        await uow.tickets.add_events(ticket_id, outcome.events)
        await services.notifier.notify(uow, hold_quiet(ticket, outcome.notices, now), now=now)
        await uow.accounts.audit(AuditEntry(now, who.account.username, f"ticket.{action}", f"ticket:{ticket_id}",
                                            _summary(before), {**_summary(ticket), "note": note[:500],
                                                               "argument": argument}))  # fmt: skip
    services.committed([ticket])
    return ticket


def _summary(t: Ticket) -> dict[str, object]:
    return {"state": t.state.value, "tier": t.tier.value, "assignee": t.assignee, "suspension": t.suspension,
            "close_reason": t.close_reason.value if t.close_reason else None}  # fmt: skip
