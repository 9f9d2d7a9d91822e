"""What officers do to a case from the admin web: reassign, escalate, suspend, resume, close.

Each action runs the pure transition of `tickets.transitions` and commits it through the case service
(`escalation.cases`) in one transaction with an audit entry, like every other change.
A case outside the officer's jurisdiction is refused before anything is read back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from admin.auth import Principal
from bot.services import Services
from tickets import transitions
from tickets.accounts import AuditEntry
from tickets.directory import Directory
from tickets.model import Outcome, Ticket

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
}


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


def _summary(t: Ticket) -> dict[str, object]:
    return {"state": t.state.value, "tier": t.tier.value, "assignee": t.assignee, "suspension": t.suspension,
            "close_reason": t.close_reason.value if t.close_reason else None}  # fmt: skip
