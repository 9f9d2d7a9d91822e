"""Pure step planning: what happens when, for a ticket's running clock.

The schedule is a function of (policy snapshot, phase, phase start, base tier), so the
database only stores the clock and the index of the next step; a restart recomputes it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from escalation.calendar import ROUND_THE_CLOCK, WorkCalendar, add_workdays
from tickets import departments, supervision, transitions, verification
from tickets.directory import Directory
from tickets.model import (
    ACTIVE_STATES,
    EventKind,
    Notice,
    Outcome,
    Phase,
    Ticket,
    TicketEvent,
    TicketState,
    Tier,
    tier_rank,
)
from tickets.subtypes import WORKDAY
from tickets.texts import Text
from tickets.transitions import escalation_pings, is_live, notice_params


class Action(StrEnum):
    NAG = "nag"
    ESCALATE = "escalate"
    REMIND = "remind"  # the tier the case sits at has not reported in (报到): ping it again
    OPEN = "open"  # the reporter never said where: open the draft with what is known
    CLOSE = "close"  # nobody rated in time: close as 默认满意
    SIGN_LATE = "sign_late"  # the department did not sign for (签收) a dispatched case in time
    VERIFY_LATE = "verify_late"  # the community did not verify (核查) a resolve in time
    YELLOW_CARD = "yellow_card"  # 黄牌督办 at the resolve deadline
    RED_CARD = "red_card"  # 红牌督办 some workdays later


# Phases that end with one transition instead of a nag-and-escalate ladder.
_PHASE_END = {
    Phase.LOCATION: Action.OPEN,
    Phase.FEEDBACK: Action.CLOSE,
    Phase.SIGN: Action.SIGN_LATE,
    Phase.VERIFY: Action.VERIFY_LATE,
}
_WORKING_END = frozenset({Phase.VERIFY})  # phase-end deadlines counted in the policy's working time


@dataclass(frozen=True)
class Step:
    at: datetime
    action: Action
    tier: Tier


def calendar_of(ticket: Ticket) -> WorkCalendar:
    """Urgent cases run 24/7; others keep their policy's quiet hours and working time, except a
    resolve phase its subtype counts otherwise (`SlaPolicy.resolve_clock`)."""
    policy = ticket.policy
    if ticket.urgent:
        return ROUND_THE_CLOCK
    if ticket.clock.phase is Phase.RESOLVE and policy.resolve_clock == "round":
        return ROUND_THE_CLOCK
    if ticket.clock.phase is Phase.RESOLVE and policy.resolve_clock == "working":
        return WorkCalendar(quiet=policy.quiet, working=policy.working or WORKDAY)
    return WorkCalendar(quiet=policy.quiet, working=policy.working)


def schedule(ticket: Ticket) -> list[Step]:
    """Nags at fractions of the phase, then each tier above the base: pinged when the deadline
    passes, reminded `repeat` times `ack` apart, then the next tier. Times count working time
    when the policy says so; a step inside quiet hours waits for their end, and the next tier's
    `ack` runs from when the ping actually went out."""
    clock, policy = ticket.clock, ticket.policy
    if clock.phase is Phase.NONE:
        return []
    cal = calendar_of(ticket)
    duration = policy.duration(clock.phase, ticket.reopens, ticket.urgent, ticket.reworks)
    start = clock.started_at
    if clock.phase in _PHASE_END:
        end = cal.after(start, duration) if clock.phase in _WORKING_END else start + timedelta(seconds=duration)
        return [Step(cal.fire_at(end), _PHASE_END[clock.phase], clock.base_tier)]
    if fixed_deadline(ticket) is not None:
        return _to_fixed(ticket, cal)
    steps = [
        Step(cal.fire_at(cal.after(start, duration * f)), Action.NAG, clock.base_tier) for f in sorted(policy.nag_at)
    ]
    at = cal.after(start, duration)
    return steps + _climb(ticket, cal, at)


def fixed_deadline(ticket: Ticket) -> datetime | None:
    """The handling deadline set outright: an approved 延期 for this running phase, else the city
    platform's (12345) for the case; None when the policy's time counts."""
    if ticket.clock.phase is not Phase.RESOLVE:
        return None
    return ticket.clock.until or ticket.deadline


def _to_fixed(ticket: Ticket, cal: WorkCalendar) -> list[Step]:
    """Nags at the policy's fractions of the time from the clock's start to the fixed deadline, then the climb."""
    start, end = ticket.clock.started_at, fixed_deadline(ticket)
    assert end is not None
    span = max(timedelta(0), end - start)
    steps = [
        Step(cal.fire_at(start + span * f), Action.NAG, ticket.clock.base_tier) for f in sorted(ticket.policy.nag_at)
    ]
    return steps + _climb(ticket, cal, end)


def _climb(ticket: Ticket, cal: WorkCalendar, at: datetime) -> list[Step]:
    """From the deadline `at`: the supervision cards (when the policy gives them, in a resolve phase)
    and each tier above the base, in time order."""
    steps = _ladder(ticket, cal, at)
    if ticket.policy.cards and ticket.clock.phase is Phase.RESOLVE:
        red = cal.fire_at(add_workdays(at, ticket.policy.red_card_days))
        cards = [Step(cal.fire_at(at), Action.YELLOW_CARD, ticket.clock.base_tier),
                 Step(red, Action.RED_CARD, ticket.clock.base_tier)]  # fmt: skip
        steps = sorted([*cards, *steps], key=lambda s: s.at)  # stable: a card goes before a climb at the same time
    return steps


def _ladder(ticket: Ticket, cal: WorkCalendar, at: datetime) -> list[Step]:
    clock, policy = ticket.clock, ticket.policy
    steps: list[Step] = []
    for rung in policy.ladder:
        if tier_rank(rung.tier) <= tier_rank(clock.base_tier):
            continue
        for action in (Action.ESCALATE, *([Action.REMIND] * rung.repeat)):
            fired = cal.fire_at(at)
            steps.append(Step(fired, action, rung.tier))
            at = cal.after(fired, rung.ack_s)
    return steps


def phase_end(ticket: Ticket) -> datetime:
    """When the running phase's deadline (接单/签收/办结期限) falls, in counted time."""
    fixed = fixed_deadline(ticket)
    if fixed is not None:
        return fixed
    duration = ticket.policy.duration(ticket.clock.phase, ticket.reopens, ticket.urgent, ticket.reworks)
    return calendar_of(ticket).after(ticket.clock.started_at, duration)


def overdue_at(ticket: Ticket) -> datetime | None:
    """When the case turns overdue: its running deadline while it can be late (an active case in the
    accept or resolve phase, not on hold), else None. Stored as `tickets.due_at` for the live figures."""
    if ticket.state not in ACTIVE_STATES or ticket.state is TicketState.SUSPENDED:
        return None
    return phase_end(ticket) if ticket.clock.phase in (Phase.ACCEPT, Phase.RESOLVE) else None


def skip_past_nags(ticket: Ticket, now: datetime) -> Ticket:
    """A clock that started in the past (the handling clock of a dispatched case counts from the
    dispatch; an extension re-plans it) does not fire the nags it would have sent already."""
    steps = schedule(ticket)
    step = ticket.clock.step
    while step < len(steps) and steps[step].action is Action.NAG and steps[step].at <= now:
        step += 1
    return replace(ticket, clock=replace(ticket.clock, step=step))


def next_due(ticket: Ticket) -> datetime | None:
    if not is_live(ticket):
        return None
    steps = schedule(ticket)
    return steps[ticket.clock.step].at if ticket.clock.step < len(steps) else None


def fire(ticket: Ticket, token: int | None, directory: Directory, now: datetime) -> Outcome | None:
    """Carry out every step that is due, or None when nothing is (or the token is stale).

    After downtime several steps may be due at once: every escalation still happens (each
    tier must hear of it) but a nag that a later due step supersedes is skipped.
    """
    if token is not None and token != ticket.clock.token:
        return None
    if not is_live(ticket):
        return None
    steps = schedule(ticket)[ticket.clock.step :]
    due = [s for s in steps if s.at <= now]
    if not due:
        return None
    if due[0].action is Action.OPEN:
        return transitions.open_unlocated(ticket, now)
    if due[0].action is Action.CLOSE:
        return transitions.auto_close(ticket, now)
    if due[0].action is Action.SIGN_LATE:
        late = departments.sign_overdue(ticket, directory, now)
        return replace(late, ticket=skip_past_nags(late.ticket, now))
    if due[0].action is Action.VERIFY_LATE:
        return verification.verify_overdue(ticket, directory, now)
    events: list[TicketEvent] = []
    notices: list[Notice] = []
    current = ticket
    for i, step in enumerate(due):
        superseded = i < len(due) - 1
        if step.action is Action.NAG and superseded:
            continue
        current, step_events, step_notices = _apply(current, step, directory, now)
        events += step_events
        notices += step_notices
    clock = replace(ticket.clock, step=ticket.clock.step + len(due), token=ticket.clock.token + 1)
    current = replace(current, clock=clock)
    return Outcome(current, tuple(events), tuple(notices))


def _apply(
    ticket: Ticket, step: Step, directory: Directory, now: datetime
) -> tuple[Ticket, list[TicketEvent], list[Notice]]:
    phase = ticket.clock.phase.value
    if step.action is Action.NAG:
        who = departments.handlers(ticket, directory)
        detail = {"phase": phase, "due": phase_end(ticket)}
        notices = [
            Notice(Text.WORKER_NAG, person_id=pid, ticket_id=ticket.id, params=notice_params(ticket, **detail))
            for pid in who
        ]
        return ticket, [TicketEvent(EventKind.NAGGED, "system", now, {"phase": phase, "to": who})], notices
    if step.action in (Action.YELLOW_CARD, Action.RED_CARD):
        red = step.action is Action.RED_CARD
        events, notices = supervision.card(ticket, directory, now, red=red, due=phase_end(ticket))
        return ticket, events, notices
    if step.action is Action.REMIND:
        notices = escalation_pings(ticket, directory, Text.OFFICER_REMINDED, phase=phase)
        to = [n.person_id for n in notices]
        return ticket, [TicketEvent(EventKind.REMINDED, "system", now, {"tier": step.tier.value, "to": to})], notices
    escalated = replace(ticket, tier=step.tier)
    notices = escalation_pings(escalated, directory, Text.OFFICER_ESCALATED, phase=phase)
    if ticket.assignee:
        notices.append(
            Notice(
                Text.WORKER_ESCALATED, person_id=ticket.assignee, ticket_id=ticket.id, params=notice_params(escalated)
            )
        )
    to = [n.person_id for n in notices if n.template == Text.OFFICER_ESCALATED]
    event = TicketEvent(EventKind.ESCALATED, "system", now, {"tier": step.tier.value, "phase": phase, "to": to})
    return escalated, [event], notices
