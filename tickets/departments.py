"""Departments in the loop, as command centres run them (GB/T 30428 part 8, 接诉即办): 派单 · 签收 ·
退单 · 指定 · 延期.

- A township officer or the command centre dispatches (派单) a case to a department. The handling
  clock starts at dispatch: the department has `sign_s` (urgent `sign_urgent_s`) to sign for it
  (签收), and the resolve deadline counts from the dispatch, not from the signing.
- The department may send it back (退单) with a reason; it goes back to the tier that dispatched it.
  After the second return the tier above decides (指定): its dispatch is final, no more returns.
- Before the deadline a handler may ask for an extension (延期申请); the dispatching tier (or, for a
  case no department holds, the community) approves or refuses. An approved extension fixes the
  deadline of the running phase (`Clock.until`: any restart of the clock drops it). This and 挂账
  are the only ways a clock stops or moves.

Pure: every function takes `now` and returns an `Outcome` or raises `Refused`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tickets.directory import Department, Directory
from tickets.model import (
    NODE_ORDER,
    OPEN_STATES,
    Clock,
    Dispatch,
    EventKind,
    Extension,
    Notice,
    Outcome,
    Phase,
    Refused,
    Ticket,
    TicketEvent,
    TicketState,
    Tier,
    tier_rank,
)
from tickets.texts import Text
from tickets.transitions import notice_params

DISPATCHING_TIERS = frozenset({Tier.TOWNSHIP, Tier.DISTRICT})  # 街道/乡镇 and the command centre dispatch
MAX_RETURNS = 2  # after this many returns the tier above decides (指定) and the department cannot return it


def dispatch(
    ticket: Ticket, actor: str, actor_tier: Tier, department: Department, directory: Directory, now: datetime
) -> Outcome:
    """派单 (or, after two returns, 指定 by the tier above): the department's people are pinged and
    have the sign deadline; the case's tier is `department` from now on."""
    _require_open(ticket)
    if actor_tier not in DISPATCHING_TIERS:
        raise Refused(Text.DISPATCH_OFFICERS_ONLY, **notice_params(ticket))
    if ticket.dispatch is not None:
        raise Refused(Text.ALREADY_DISPATCHED, **_params(ticket, directory))
    final = ticket.returns >= MAX_RETURNS
    waiting_at = ticket.tier if ticket.tier in NODE_ORDER else Tier.DISTRICT  # the ladder may climb past it
    if final and tier_rank(actor_tier) < tier_rank(waiting_at):
        raise Refused(Text.ARBITRATION_ABOVE, **notice_params(ticket))
    held = Dispatch(department.id, actor, actor_tier, now, final=final)
    new = replace(
        ticket,
        dispatch=held,
        tier=Tier.DEPARTMENT,
        extension=None,
        clock=Clock(Phase.SIGN, now, Tier.DEPARTMENT, token=ticket.clock.token + 1),
    )
    kind = EventKind.ARBITRATED if final else EventKind.DISPATCHED
    event = TicketEvent(kind, actor, now, {"department": department.id, "from_tier": actor_tier.value})
    params = _params(new, directory, actor=actor)
    notices = [Notice(Text.TICKET_DISPATCHED, chat_id=new.chat_id, ticket_id=new.id, params=params)]
    template = Text.DEPARTMENT_ASSIGNED if final else Text.DEPARTMENT_DISPATCHED
    notices += [Notice(template, person_id=pid, ticket_id=new.id, params=params) for pid in department.people]
    return Outcome(new, (event,), tuple(notices))


def sign(ticket: Ticket, actor: str, directory: Directory, now: datetime) -> Outcome:
    """签收: the case is in the department's hands; the handling clock keeps counting from the dispatch."""
    held = _require_department(ticket, actor, directory)
    if held.signed_by is not None:
        raise Refused(Text.ALREADY_SIGNED, **_params(ticket, directory, actor=held.signed_by))
    late = ticket.clock.phase is not Phase.SIGN
    new = replace(
        ticket,
        state=TicketState.ACCEPTED,
        dispatch=replace(held, signed_by=actor, signed_at=now),
        clock=_handling_clock(ticket, held) if not late else replace(ticket.clock, token=ticket.clock.token + 1),
    )
    event = TicketEvent(EventKind.SIGNED, actor, now, {"department": held.department, "late": late})
    params = _params(new, directory, actor=actor)
    return Outcome(new, (event,), (Notice(Text.TICKET_SIGNED, chat_id=new.chat_id, ticket_id=new.id, params=params),))


def sign_overdue(ticket: Ticket, directory: Directory, now: datetime) -> Outcome:
    """The sign deadline passed: the department and whoever dispatched are told; the case stays with
    the department and its handling clock (running since the dispatch) goes on."""
    held = ticket.dispatch
    if held is None:
        return Outcome(replace(ticket, clock=replace(ticket.clock, token=ticket.clock.token + 1)))
    new = replace(ticket, clock=_handling_clock(ticket, held))
    params = _params(new, directory, due=ticket.policy.duration(Phase.SIGN, urgent=ticket.urgent) // 60)
    to = list(dict.fromkeys([*directory.staff_of(held.department), held.by]))
    notices = tuple(Notice(Text.DEPARTMENT_SIGN_OVERDUE, person_id=pid, ticket_id=new.id, params=params) for pid in to)
    event = TicketEvent(EventKind.SIGN_OVERDUE, "system", now, {"department": held.department, "to": to})
    return Outcome(new, (event,), notices)


def return_case(ticket: Ticket, actor: str, reason: str, directory: Directory, now: datetime) -> Outcome:
    """退单 with a reason: back to the tier that dispatched it, or after the second return to the tier
    above it, whose officers are asked to decide (指定)."""
    held = _require_department(ticket, actor, directory)
    if not reason:
        raise Refused(Text.RETURN_NEEDS_REASON, **_params(ticket, directory))
    if held.final:
        raise Refused(Text.RETURN_NOT_ALLOWED, **_params(ticket, directory))
    returns = ticket.returns + 1
    to_tier = _above(held.tier) if returns >= MAX_RETURNS else held.tier
    new = replace(
        ticket,
        dispatch=None,
        returns=returns,
        tier=to_tier,
        state=TicketState.ACCEPTED if ticket.assignee else TicketState.REPORTED,
        extension=None,
        clock=ticket.clock.restarted(Phase.RESOLVE, now, to_tier),
    )
    params = _params(ticket, directory, actor=actor, note=reason[:500], returns=returns)
    notices = [Notice(Text.DEPARTMENT_RETURNED, person_id=held.by, ticket_id=new.id, params=params)]
    arbiters: list[str] = []
    if returns >= MAX_RETURNS:
        arbiters = [p.id for p in directory.officers_for(ticket.grid, to_tier, ticket.type)]
        notices += [Notice(Text.ARBITRATION_NEEDED, person_id=pid, ticket_id=new.id, params=params) for pid in arbiters]
    detail = {"department": held.department, "reason": reason[:500], "returns": returns, "tier": to_tier.value}
    if arbiters:
        detail["to"] = arbiters
    return Outcome(new, (TicketEvent(EventKind.RETURNED, actor, now, detail),), tuple(notices))


def request_extension(
    ticket: Ticket, actor: str, until: datetime, reason: str, due: datetime, directory: Directory, now: datetime
) -> Outcome:
    """延期申请 before the deadline `due` (the running one, computed by the caller), with a reason and a
    later date; the deciders are pinged."""
    _require_open(ticket)
    if ticket.dispatch is not None:
        _require_department(ticket, actor, directory)
        if ticket.dispatch.signed_by is None:
            raise Refused(Text.SIGN_FIRST, **_params(ticket, directory))
    elif not directory.serves(actor, ticket.grid):
        raise Refused(Text.NOT_STAFF, **notice_params(ticket))
    if not reason:
        raise Refused(Text.EXTENSION_NEEDS_REASON, **notice_params(ticket))
    if now >= due:
        raise Refused(Text.EXTENSION_TOO_LATE, **notice_params(ticket, due=due))
    if until <= due:
        raise Refused(Text.EXTENSION_NOT_LATER, **notice_params(ticket, due=due))
    new = replace(ticket, extension=Extension(until, reason[:500], actor, now))
    deciders = _deciders(ticket, directory)
    params = _params(new, directory, actor=actor, note=reason[:500], due=until)
    notices = [Notice(Text.EXTENSION_REQUESTED, person_id=pid, ticket_id=new.id, params=params) for pid in deciders]
    detail = {"until": until.isoformat(), "reason": reason[:500], "to": deciders}
    return Outcome(new, (TicketEvent(EventKind.EXTENSION_REQUESTED, actor, now, detail),), tuple(notices))


def decide_extension(
    ticket: Ticket, actor: str, actor_tier: Tier | None, approve: bool, directory: Directory, now: datetime
) -> Outcome:
    """同意延期 moves the deadline to the date asked (shown in the group); 不同意延期 keeps it."""
    _require_open(ticket)
    asked = ticket.extension
    if asked is None:
        raise Refused(Text.NO_EXTENSION_REQUEST, **notice_params(ticket))
    deciding = actor_tier in NODE_ORDER and tier_rank(actor_tier) >= tier_rank(_deciding_tier(ticket))
    if not deciding or actor == asked.by:  # nobody approves their own request
        raise Refused(Text.EXTENSION_DECIDERS_ONLY, **notice_params(ticket))
    params = _params(ticket, directory, actor=actor, due=asked.until)
    if not approve:
        new = replace(ticket, extension=None)
        event = TicketEvent(EventKind.EXTENSION_REFUSED, actor, now, {"until": asked.until.isoformat()})
        notice = Notice(Text.EXTENSION_REFUSED, person_id=asked.by, ticket_id=ticket.id, params=params)
        return Outcome(new, (event,), (notice,))
    clock = replace(ticket.clock, phase=Phase.RESOLVE, token=ticket.clock.token + 1, step=0, until=asked.until)
    new = replace(ticket, extension=None, clock=clock)
    event = TicketEvent(EventKind.EXTENSION_APPROVED, actor, now, {"until": asked.until.isoformat(), "by": asked.by})
    notices = (
        Notice(Text.TICKET_EXTENDED, chat_id=ticket.chat_id, ticket_id=ticket.id, params=params),
        Notice(Text.EXTENSION_APPROVED, person_id=asked.by, ticket_id=ticket.id, params=params),
    )
    return Outcome(new, (event,), notices)


def handlers(ticket: Ticket, directory: Directory) -> list[str]:
    """Who is nagged about the case: the department's signer or its people while a department holds
    it, else the assigned worker or the grid's workers."""
    if ticket.dispatch is not None:
        held = ticket.dispatch
        return [held.signed_by] if held.signed_by else list(directory.staff_of(held.department))
    return [ticket.assignee] if ticket.assignee else [p.id for p in directory.workers_of(ticket.grid)]


def _handling_clock(ticket: Ticket, held: Dispatch) -> Clock:
    """The resolve clock, started at the dispatch (接诉即办: the clock does not wait for the signing)."""
    return Clock(Phase.RESOLVE, held.at, Tier.DEPARTMENT, step=0, token=ticket.clock.token + 1)


def _deciding_tier(ticket: Ticket) -> Tier:
    """The dispatching tier; for a case no department holds, the tier above the grid that holds it
    (the community at least)."""
    if ticket.dispatch is not None:
        return ticket.dispatch.tier
    held = ticket.tier if ticket.tier in NODE_ORDER else Tier.DISTRICT
    return held if tier_rank(held) > tier_rank(Tier.GRID) else Tier.COMMUNITY


def _deciders(ticket: Ticket, directory: Directory) -> list[str]:
    if ticket.dispatch is not None:
        return [ticket.dispatch.by]
    return [p.id for p in directory.officers_for(ticket.grid, _deciding_tier(ticket), ticket.type)]


def _above(tier: Tier) -> Tier:
    """The node tier above `tier` (the district decides for itself: nothing sits above it)."""
    at = NODE_ORDER.index(tier) if tier in NODE_ORDER else len(NODE_ORDER) - 1
    return NODE_ORDER[min(at + 1, len(NODE_ORDER) - 1)]


def _require_open(ticket: Ticket) -> None:
    if ticket.state not in OPEN_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))


def _require_department(ticket: Ticket, actor: str, directory: Directory) -> Dispatch:
    _require_open(ticket)
    held = ticket.dispatch
    if held is None:
        raise Refused(Text.NOT_DISPATCHED, **notice_params(ticket))
    if actor not in directory.staff_of(held.department):
        raise Refused(Text.DEPARTMENT_ONLY, **_params(ticket, directory))
    return held


def _params(ticket: Ticket, directory: Directory, **extra: object) -> dict[str, object]:
    held = ticket.dispatch
    name = next((d.name for d in directory.departments if held and d.id == held.department), "")
    return notice_params(ticket, **{"department_name": name, "returns": ticket.returns, **extra})
