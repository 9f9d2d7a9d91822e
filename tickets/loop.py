"""The closed loop (闭环) as pure transitions: report → accept → resolve → confirm/rate, or reopen.

Each function takes the ticket, who acts and `now`, and returns an `Outcome` (the new ticket,
the timeline events, the notices to send) or raises `Refused`. Nothing here does I/O.
"""

from __future__ import annotations

from datetime import datetime

from tickets.directory import Directory
from tickets.model import (
    ACTIVE_STATES,
    OPEN_STATES,
    Clock,
    Notice,
    Outcome,
    Phase,
    Refused,
    SlaPolicy,
    Ticket,
    TicketEvent,
    TicketState,
    Tier,
    tier_rank,
)

RATING_MIN, RATING_MAX = 1, 5


def open_ticket(
    *,
    ticket_id: int,
    ticket_type: str,
    grid: str,
    chat_id: str,
    reporter: str,
    assignee: str | None,
    location: str,
    text: str,
    policy: SlaPolicy,
    now: datetime,
    urgent: bool = False,
    directory: Directory | None = None,
) -> Outcome:
    """A new case. An urgent one also pings the officers of every tier of its ladder at once."""
    ticket = Ticket(
        id=ticket_id,
        type=ticket_type,
        state=TicketState.REPORTED,
        tier=Tier.GRID,
        grid=grid,
        chat_id=chat_id,
        reporter=reporter,
        assignee=assignee,
        location=location,
        text=text,
        created_at=now,
        policy=policy,
        clock=Clock(phase=Phase.ACCEPT, started_at=now, base_tier=Tier.GRID, token=1),
        urgent=urgent,
    )
    notices = [_chat("urgent_opened" if urgent else "ticket_opened", ticket)]
    if assignee:
        notices.append(_dm("worker_new_ticket", assignee, ticket))
    if urgent and directory is not None:
        notices += urgent_pings(ticket, directory)
    detail = {"text": text, "location": location, "policy": policy.name, "urgent": urgent}
    event = TicketEvent("reported", reporter, now, detail)
    return Outcome(ticket, (event,), tuple(notices))


def accept(ticket: Ticket, actor: str, now: datetime) -> Outcome:
    if ticket.state is not TicketState.REPORTED:
        raise Refused(
            "already_accepted" if ticket.state is TicketState.ACCEPTED else "not_open", **notice_params(ticket)
        )
    new = ticket.evolve(
        state=TicketState.ACCEPTED,
        assignee=actor,
        clock=ticket.clock.restarted(Phase.RESOLVE, now, ticket.tier),
    )
    return Outcome(
        new,
        (TicketEvent("accepted", actor, now),),
        (_chat("ticket_accepted", new, actor=actor),),
    )


def progress(ticket: Ticket, actor: str, note: str, now: datetime) -> Outcome:
    if ticket.state not in OPEN_STATES:
        raise Refused("not_open", **notice_params(ticket))
    new = ticket
    if ticket.state is TicketState.REPORTED:  # reporting progress implies the worker took the case
        new = accept(ticket, actor, now).ticket
    return Outcome(
        new,
        (TicketEvent("progress", actor, now, {"note": note}),),
        (_chat("ticket_progress", new, actor=actor, note=note),),
    )


def resolve(ticket: Ticket, actor: str, note: str, now: datetime) -> Outcome:
    if ticket.state not in OPEN_STATES:
        raise Refused(
            "already_resolved" if ticket.state is TicketState.RESOLVED else "not_open", **notice_params(ticket)
        )
    new = ticket.evolve(
        state=TicketState.RESOLVED,
        assignee=ticket.assignee or actor,
        clock=ticket.clock.restarted(Phase.NONE, now, ticket.tier),
    )
    return Outcome(
        new,
        (TicketEvent("resolved", actor, now, {"note": note}),),
        (_chat("ticket_resolved", new, actor=actor),),
    )


def confirm(ticket: Ticket, actor: str, now: datetime) -> Outcome:
    _require_reporter(ticket, actor)
    if ticket.state is not TicketState.RESOLVED:
        raise Refused("not_resolved", **notice_params(ticket))
    new = ticket.evolve(state=TicketState.CLOSED)
    return Outcome(
        new,
        (TicketEvent("confirmed", actor, now), TicketEvent("closed", actor, now, {"reason": "confirmed"})),
        (_chat("ticket_confirmed", new),),
    )


def rate(ticket: Ticket, actor: str, rating: int, now: datetime) -> Outcome:
    """Rate a resolved ticket (which closes it) or a closed one that has no rating yet."""
    _require_reporter(ticket, actor)
    if not RATING_MIN <= rating <= RATING_MAX:
        raise Refused("bad_rating")
    awaiting = ticket.state is TicketState.RESOLVED or (ticket.state is TicketState.CLOSED and ticket.rating is None)
    if not awaiting:
        raise Refused("not_resolved", **notice_params(ticket))
    events = [TicketEvent("rated", actor, now, {"rating": rating})]
    if ticket.state is TicketState.RESOLVED:
        events.append(TicketEvent("closed", actor, now, {"reason": "rated"}))
    new = ticket.evolve(state=TicketState.CLOSED, rating=rating)
    return Outcome(
        new,
        tuple(events),
        (_chat("ticket_rated", new, rating=rating),),
    )


def reject(ticket: Ticket, actor: str, reason: str, now: datetime) -> Outcome:
    """The reporter says it is not fixed: the case reopens with a fresh resolve deadline."""
    _require_reporter(ticket, actor)
    if ticket.state not in (TicketState.RESOLVED, TicketState.CLOSED):
        raise Refused("not_resolved", **notice_params(ticket))
    new = ticket.evolve(
        state=TicketState.ACCEPTED,
        rating=None,
        clock=ticket.clock.restarted(Phase.RESOLVE, now, ticket.tier),
    )
    notices = [_chat("ticket_reopened", new)]
    if new.assignee:
        notices.append(_dm("worker_reopened", new.assignee, new, note=reason))
    return Outcome(new, (TicketEvent("reopened", actor, now, {"reason": reason}),), tuple(notices))


def cancel(ticket: Ticket, actor: str, now: datetime) -> Outcome:
    _require_reporter(ticket, actor)
    if ticket.state not in OPEN_STATES:
        raise Refused("not_open", **notice_params(ticket))
    new = ticket.evolve(state=TicketState.CANCELLED, clock=ticket.clock.restarted(Phase.NONE, now, ticket.tier))
    notices = [_chat("ticket_cancelled", new)]
    if ticket.assignee:
        notices.append(_dm("worker_cancelled", ticket.assignee, new))
    return Outcome(new, (TicketEvent("cancelled", actor, now),), tuple(notices))


def whistle(ticket: Ticket, actor: str, reason: str, directory: Directory, now: datetime) -> Outcome:
    """吹哨: escalate at once to the next tier of the ticket's ladder, which gets a fresh deadline."""
    if ticket.state not in OPEN_STATES:
        raise Refused("not_open", **notice_params(ticket))
    above = [s.tier for s in ticket.policy.ladder if tier_rank(s.tier) > tier_rank(ticket.tier)]
    if not above:
        raise Refused("top_of_ladder", **notice_params(ticket))
    tier = above[0]
    phase = ticket.clock.phase if ticket.clock.phase is not Phase.NONE else Phase.RESOLVE
    new = ticket.evolve(tier=tier, clock=ticket.clock.restarted(phase, now, tier))
    notices = [_chat("ticket_whistled", new, actor=actor)]
    notices += escalation_pings(new, directory, "officer_whistle", actor=actor, note=reason)
    event = TicketEvent("escalated", actor, now, {"tier": tier.value, "reason": reason, "whistle": True})
    return Outcome(new, (event,), tuple(notices))


def escalation_pings(ticket: Ticket, directory: Directory, template: str, **extra: object) -> list[Notice]:
    officers = directory.officers_for(ticket.grid, ticket.tier, ticket.type)
    return [_dm(template, p.id, ticket, **extra) for p in officers]


def urgent_pings(ticket: Ticket, directory: Directory) -> list[Notice]:
    """Every officer on every tier of the ladder, each once."""
    seen: dict[str, Notice] = {}
    for step in ticket.policy.ladder:
        for person in directory.officers_for(ticket.grid, step.tier, ticket.type):
            seen.setdefault(person.id, _dm("officer_urgent", person.id, ticket, tier=step.tier.value))
    return list(seen.values())


def _chat(template: str, ticket: Ticket, **extra: object) -> Notice:
    return Notice(template, chat_id=ticket.chat_id, ticket_id=ticket.id, params=notice_params(ticket, **extra))


def _dm(template: str, person_id: str, ticket: Ticket, **extra: object) -> Notice:
    return Notice(template, person_id=person_id, ticket_id=ticket.id, params=notice_params(ticket, **extra))


def is_active(ticket: Ticket) -> bool:
    return ticket.state in ACTIVE_STATES


def _require_reporter(ticket: Ticket, actor: str) -> None:
    if actor != ticket.reporter:
        raise Refused("only_reporter", **notice_params(ticket))


def notice_params(ticket: Ticket, **extra: object) -> dict[str, object]:
    return {
        "ticket_id": ticket.id,
        "type": ticket.type,
        "grid": ticket.grid,
        "location": ticket.location,
        "text": ticket.text,
        "reporter": ticket.reporter,
        "worker": ticket.assignee or "",
        "tier": ticket.tier.value,
        "state": ticket.state.value,
        **extra,
    }
