"""The closed loop (闭环) as pure transitions: report → accept → resolve → confirm/rate, or reopen.

Each function takes the ticket, who acts and `now`, and returns an `Outcome` (the new ticket,
the timeline events, the notices to send) or raises `Refused`. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from tickets.directory import Directory
from tickets.model import (
    ACTIVE_STATES,
    LIVE_STATES,
    OPEN_STATES,
    CaseKind,
    Clock,
    CloseReason,
    EventKind,
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
from tickets.texts import Text

RATING_MIN, RATING_MAX = 1, 5
CONSULT = "consult"  # a resident's question no FAQ entry answered: a case with its own short deadline


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
    draft: bool = False,
    attachments: tuple[object, ...] = (),
    subtype: CaseKind | None = None,
) -> Outcome:
    """A new case. An urgent one also pings the officers of every tier of its ladder at once.
    A `draft` (no usable place yet) first asks the reporter where; see `locate`."""
    phase = Phase.LOCATION if draft else Phase.ACCEPT
    ticket = Ticket(
        id=ticket_id,
        type=ticket_type,
        state=TicketState.DRAFT if draft else TicketState.REPORTED,
        tier=Tier.GRID,
        grid=grid,
        chat_id=chat_id,
        reporter=reporter,
        assignee=assignee,
        location=location,
        text=text,
        created_at=now,
        policy=policy,
        clock=Clock(phase=phase, started_at=now, base_tier=Tier.GRID, token=1),
        urgent=urgent,
        subtype=subtype,
    )
    detail = {"text": text, "location": location, "policy": policy.name, "urgent": urgent}
    if subtype is not None:
        detail["subtype"] = subtype.id
    if attachments:
        detail["attachments"] = list(attachments)
    event = TicketEvent(EventKind.REPORTED, reporter, now, detail)
    if draft:
        return Outcome(ticket, (event,), (_chat(Text.ASK_LOCATION, ticket),))
    urgent_template = Text.URGENT_OPENED if location else Text.URGENT_OPENED_UNLOCATED  # it asks where, never waits
    notices = _opened_notices(ticket, urgent_template if urgent else _opened_template(ticket))
    if urgent and directory is not None:
        notices += urgent_pings(ticket, directory)
    return Outcome(ticket, (event,), tuple(notices))


def _opened_template(ticket: Ticket) -> Text:
    return Text.CONSULT_FORWARDED if ticket.type == CONSULT else Text.TICKET_OPENED


def _opened_notices(ticket: Ticket, chat_template: Text) -> list[Notice]:
    notices = [_chat(chat_template, ticket)]
    if ticket.assignee:
        dm = Text.WORKER_CONSULT if ticket.type == CONSULT else Text.WORKER_NEW_TICKET
        notices.append(_dm(dm, ticket.assignee, ticket))
    return notices


def locate(ticket: Ticket, actor: str, location: str, note: str, now: datetime,
           moved_to: tuple[str, str | None] | None = None) -> Outcome:  # fmt: skip
    """The reporter answered where (哪栋楼/哪个位置): the draft becomes a real case and its clock starts.
    `moved_to` (grid, its worker): a location shared on a line with no grid of its own lies in that grid
    (`tickets.directory.grid_by_place`); the draft, whose worker was not pinged yet, goes there."""
    if ticket.state is not TicketState.DRAFT:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    _require_reporter(ticket, actor)
    text = ticket.text if not note or note == location else f"{ticket.text}（补充：{note}）"
    grid, assignee = moved_to or (ticket.grid, ticket.assignee)
    new = replace(
        ticket,
        state=TicketState.REPORTED,
        location=location[:500],
        text=text[:4000],
        grid=grid,
        assignee=assignee,
        clock=ticket.clock.restarted(Phase.ACCEPT, now, ticket.tier),
    )
    detail = {"location": location, "note": note} | ({"grid": grid} if moved_to else {})
    event = TicketEvent(EventKind.LOCATED, actor, now, detail)
    return Outcome(new, (event,), tuple(_opened_notices(new, Text.TICKET_OPENED)))


def add_place(ticket: Ticket, actor: str, location: str, note: str, now: datetime) -> Outcome:
    """The reporter says where an urgent case (opened at once, without a place) is: it is recorded
    and the worker told; the clock runs on as it was."""
    if ticket.state not in ACTIVE_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    _require_reporter(ticket, actor)
    new = replace(ticket, location=location[:500])
    event = TicketEvent(EventKind.LOCATED, actor, now, {"location": location, "note": note})
    notices = [_chat(Text.TICKET_SUPPLEMENTED, new, actor=actor)]
    if new.assignee:
        notices.append(_dm(Text.WORKER_SUPPLEMENTED, new.assignee, new, actor=actor, note=f"位置：{location}"))
    return Outcome(new, (event,), tuple(notices))


def open_unlocated(ticket: Ticket, now: datetime) -> Outcome:
    """No answer in time: open the case with what is known; the worker is told the place is missing."""
    if ticket.state is not TicketState.DRAFT:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    new = replace(ticket, state=TicketState.REPORTED, clock=ticket.clock.restarted(Phase.ACCEPT, now, ticket.tier))
    event = TicketEvent(EventKind.LOCATED, "system", now, {"location": "", "timeout": True})
    return Outcome(new, (event,), tuple(_opened_notices(new, Text.TICKET_OPENED_UNLOCATED)))


def follow(ticket: Ticket, actor: str, text: str, now: datetime) -> Outcome:
    """Another resident reports the same thing: link them to the case instead of opening another."""
    if actor in ticket.residents:
        return Outcome(ticket, (), (_chat(Text.ALREADY_FOLLOWING, ticket, actor=actor),))
    new = replace(ticket, followers=(*ticket.followers, actor))
    event = TicketEvent(EventKind.FOLLOWED, actor, now, {"text": text})
    return Outcome(new, (event,), (_chat(Text.TICKET_FOLLOWED, new, actor=actor),))


def supplement(ticket: Ticket, actor: str, note: str, now: datetime, attachments: tuple[object, ...] = ()) -> Outcome:
    """More from a reporter about their case (a second message soon after, a photo, a shared place)."""
    if actor not in ticket.residents:
        raise Refused(Text.ONLY_REPORTER, **notice_params(ticket))
    event = TicketEvent(EventKind.SUPPLEMENTED, actor, now, {"note": note, "attachments": list(attachments)})
    notices = [_chat(Text.TICKET_SUPPLEMENTED, ticket, actor=actor)]
    if ticket.assignee and ticket.state in ACTIVE_STATES:
        added = {"note": note, "attachments": list(attachments)}  # the worker is told what was added
        notices.append(_dm(Text.WORKER_SUPPLEMENTED, ticket.assignee, ticket, actor=actor, **added))
    return Outcome(ticket, (event,), tuple(notices))


def staff_photos(ticket: Ticket, actor: str, note: str, now: datetime, attachments: tuple[object, ...]) -> Outcome:
    """Photos staff send for a case (the site now; after the fix, the 处置后照片 a resolve may need)."""
    if ticket.state not in ACTIVE_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    detail = {"note": note, "attachments": list(attachments)}
    event = TicketEvent(EventKind.PROGRESS, actor, now, detail)
    return Outcome(ticket, (event,), (_chat(Text.STAFF_PHOTOS, ticket, actor=actor, **detail),))


def accept(ticket: Ticket, actor: str, now: datetime) -> Outcome:
    if ticket.state is not TicketState.REPORTED:
        raise Refused(
            Text.ALREADY_ACCEPTED if ticket.state is TicketState.ACCEPTED else Text.NOT_OPEN, **notice_params(ticket)
        )
    new = replace(
        ticket,
        state=TicketState.ACCEPTED,
        assignee=actor,
        clock=ticket.clock.restarted(Phase.RESOLVE, now, ticket.tier),
    )
    return Outcome(
        new,
        (TicketEvent(EventKind.ACCEPTED, actor, now),),
        (_chat(Text.TICKET_ACCEPTED, new, actor=actor),),
    )


def progress(ticket: Ticket, actor: str, note: str, now: datetime) -> Outcome:
    if ticket.state not in OPEN_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    new, events = ticket, [TicketEvent(EventKind.PROGRESS, actor, now, {"note": note})]
    if ticket.state is TicketState.REPORTED:  # reporting progress implies the worker took the case: recorded so
        taken = accept(ticket, actor, now)
        new, events = taken.ticket, [*taken.events, *events]
    return Outcome(new, tuple(events), (_chat(Text.TICKET_PROGRESS, new, actor=actor, note=note),))


def resolve(
    ticket: Ticket, actor: str, note: str, now: datetime, attachments: tuple[Mapping[str, object], ...] = ()
) -> Outcome:
    """已处理: the rating window opens (`tickets.verification.resolve` adds proof and 核查 around this)."""
    if ticket.state not in OPEN_STATES:
        raise Refused(
            Text.ALREADY_RESOLVED if ticket.state is TicketState.RESOLVED else Text.NOT_OPEN, **notice_params(ticket)
        )
    new = replace(
        ticket,
        state=TicketState.RESOLVED,
        extension=None,
        assignee=ticket.assignee or actor,
        clock=ticket.clock.restarted(Phase.FEEDBACK, now, ticket.tier),
    )
    template = Text.CONSULT_ANSWERED if ticket.type == CONSULT else Text.TICKET_RESOLVED
    return Outcome(
        new,
        (
            TicketEvent(
                EventKind.RESOLVED,
                actor,
                now,
                {"note": note, **({"attachments": list(attachments)} if attachments else {})},
            ),
        ),
        (replace(_chat(template, new, actor=actor, note=note), attachments=attachments),),
    )


def confirm(ticket: Ticket, actor: str, now: datetime) -> Outcome:
    _require_resident(ticket, actor)
    if ticket.state is not TicketState.RESOLVED:
        raise Refused(Text.NOT_RESOLVED, **notice_params(ticket))
    if ticket.verify_pending:  # recorded; the case closes after the community's 核查
        event = TicketEvent(EventKind.CONFIRMED, actor, now, {"verify_pending": True})
        return Outcome(ticket, (event,), (_chat(Text.TICKET_CONFIRMED_PENDING, ticket, actor=actor),))
    new = _closed(ticket, now, CloseReason.CONFIRMED)
    return Outcome(
        new,
        (
            TicketEvent(EventKind.CONFIRMED, actor, now),
            TicketEvent(EventKind.CLOSED, actor, now, {"reason": "confirmed"}),
        ),
        (_chat(Text.TICKET_CONFIRMED, new, actor=actor),),
    )


def auto_close(ticket: Ticket, now: datetime) -> Outcome:
    """No rating within the feedback time: the case closes as 默认满意 (counted apart from real ratings)."""
    if ticket.state is not TicketState.RESOLVED:
        raise Refused(Text.NOT_RESOLVED, **notice_params(ticket))
    reason = CloseReason.NO_RATING if ticket.reworks else CloseReason.DEFAULT_SATISFIED  # 返工: never 默认满意
    new = _closed(ticket, now, reason)
    event = TicketEvent(EventKind.CLOSED, "system", now, {"reason": reason.value})
    return Outcome(new, (event,), (_chat(Text.TICKET_AUTO_CLOSED, new),))


def _closed(ticket: Ticket, now: datetime, reason: CloseReason) -> Ticket:
    clock = ticket.clock.restarted(Phase.NONE, now, ticket.tier)
    return replace(ticket, state=TicketState.CLOSED, close_reason=reason, clock=clock)


def rate(ticket: Ticket, actor: str, rating: int, now: datetime) -> Outcome:
    """Rate a resolved ticket (which closes it) or a closed one this resident has not rated yet.
    Every linked reporter may rate once; `rating` keeps the first, `ratings` all of them."""
    _require_resident(ticket, actor)
    if not RATING_MIN <= rating <= RATING_MAX:
        raise Refused(Text.BAD_RATING)
    if actor in ticket.ratings:
        raise Refused(Text.ALREADY_RATED, **notice_params(ticket, rating=ticket.ratings[actor]))
    if ticket.state not in (TicketState.RESOLVED, TicketState.CLOSED):
        raise Refused(Text.NOT_RESOLVED, **notice_params(ticket))
    events = [TicketEvent(EventKind.RATED, actor, now, {"rating": rating})]
    new = ticket
    if ticket.state is TicketState.RESOLVED and not ticket.verify_pending:
        events.append(TicketEvent(EventKind.CLOSED, actor, now, {"reason": "rated"}))
        new = _closed(ticket, now, CloseReason.RATED)
    new = replace(
        new,
        rating=ticket.rating if ticket.rating is not None else rating,
        ratings={**ticket.ratings, actor: rating},
    )
    template = Text.TICKET_RATED_PENDING if ticket.verify_pending else Text.TICKET_RATED
    return Outcome(new, tuple(events), (_chat(template, new, rating=rating, actor=actor),))


def reject(ticket: Ticket, actor: str, reason: str, now: datetime) -> Outcome:
    """A reporter says it is not fixed: the case reopens with priority (half the resolve time, see
    `SlaPolicy.duration`), its ratings are cleared and the worker is told."""
    _require_resident(ticket, actor)
    if ticket.state not in (TicketState.RESOLVED, TicketState.CLOSED):
        raise Refused(Text.NOT_RESOLVED, **notice_params(ticket))
    new = replace(
        ticket,
        state=TicketState.ACCEPTED,
        rating=None,
        ratings={},
        close_reason=None,
        verify_pending=False,
        reopens=ticket.reopens + 1,
        clock=ticket.clock.restarted(Phase.RESOLVE, now, ticket.tier),
    )
    notices = [_chat(Text.TICKET_REOPENED, new, actor=actor)]
    if new.assignee:
        notices.append(_dm(Text.WORKER_REOPENED, new.assignee, new, note=reason, actor=actor))
    return Outcome(new, (TicketEvent(EventKind.REOPENED, actor, now, {"reason": reason}),), tuple(notices))


def cancel(ticket: Ticket, actor: str, now: datetime) -> Outcome:
    """The reporter withdraws (the case ends); a linked follower only stops following it."""
    if actor in ticket.followers:
        new = replace(ticket, followers=tuple(f for f in ticket.followers if f != actor))
        return Outcome(
            new, (TicketEvent(EventKind.UNFOLLOWED, actor, now),), (_chat(Text.TICKET_UNFOLLOWED, new, actor=actor),)
        )
    _require_reporter(ticket, actor)
    if ticket.state not in OPEN_STATES | {TicketState.DRAFT}:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    new = replace(ticket, state=TicketState.CANCELLED, clock=ticket.clock.restarted(Phase.NONE, now, ticket.tier))
    notices = [_chat(Text.TICKET_CANCELLED, new)]
    if ticket.assignee and ticket.state is not TicketState.DRAFT:  # a draft's worker was never told
        notices.append(_dm(Text.WORKER_CANCELLED, ticket.assignee, new))
    return Outcome(new, (TicketEvent(EventKind.CANCELLED, actor, now),), tuple(notices))


def whistle(ticket: Ticket, actor: str, reason: str, directory: Directory, now: datetime) -> Outcome:
    """吹哨: escalate at once to the next tier of the ticket's ladder, which gets a fresh deadline."""
    if ticket.state not in OPEN_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    above = [s.tier for s in ticket.policy.ladder if tier_rank(s.tier) > tier_rank(ticket.tier)]
    if not above:
        raise Refused(Text.TOP_OF_LADDER, **notice_params(ticket))
    tier = above[0]
    phase = ticket.clock.phase if ticket.clock.phase is not Phase.NONE else Phase.RESOLVE
    new = replace(ticket, tier=tier, clock=ticket.clock.restarted(phase, now, tier))
    notices = [_chat(Text.TICKET_WHISTLED, new, actor=actor)]
    notices += escalation_pings(new, directory, Text.OFFICER_WHISTLE, actor=actor, note=reason)
    event = TicketEvent(EventKind.ESCALATED, actor, now, {"tier": tier.value, "reason": reason, "whistle": True})
    return Outcome(new, (event,), tuple(notices))


def report_in(ticket: Ticket, actor: str, tier: Tier, now: datetime, *, history: Sequence[TicketEvent]) -> Outcome:
    """报到: an officer of `tier` takes the case. The climb stops there and that tier's own resolve
    deadline starts (only tiers above it can be escalated to from now on). `history` is the case's
    timeline: who reported in at `tier` since the case last climbed is told so (a whistle gives the
    tier a deadline, but nobody has reported in until someone does)."""
    if ticket.state not in OPEN_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    if tier_rank(tier) < tier_rank(ticket.tier):
        raise Refused(Text.BELOW_CURRENT_TIER, **notice_params(ticket))
    taken = reported_in_by(history, tier)
    if ticket.tier is tier and taken is not None:
        raise Refused(Text.ALREADY_REPORTED_IN, **notice_params(ticket, actor=taken))
    new = replace(
        ticket,
        state=TicketState.ACCEPTED,
        tier=tier,
        clock=ticket.clock.restarted(Phase.RESOLVE, now, tier),
    )
    notices = [_chat(Text.TICKET_REPORTED_IN, new, actor=actor)]
    if new.assignee:
        notices.append(_dm(Text.WORKER_REPORTED_IN, new.assignee, new, actor=actor))
    return Outcome(new, (TicketEvent(EventKind.REPORTED_IN, actor, now, {"tier": tier.value}),), tuple(notices))


def reported_in_by(history: Sequence[TicketEvent], tier: Tier) -> str | None:
    """Who reported in at `tier` since the case last climbed (None: nobody has yet)."""
    taken: str | None = None
    for event in history:
        if event.kind is EventKind.ESCALATED:
            taken = None
        elif event.kind is EventKind.REPORTED_IN:
            taken = event.actor if event.detail.get("tier") == tier.value else None
    return taken


def request_suspension(ticket: Ticket, actor: str, reason: str, directory: Directory, now: datetime) -> Outcome:
    """A worker asks to put the case on hold (挂账); the officers of the tier above decide."""
    if ticket.state not in OPEN_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    if not reason:
        raise Refused(Text.SUSPEND_NEEDS_REASON, **notice_params(ticket))
    new = replace(ticket, suspension=reason[:500])
    approver = next((s.tier for s in ticket.policy.ladder if tier_rank(s.tier) > tier_rank(Tier.GRID)), Tier.COMMUNITY)
    tier = ticket.tier if tier_rank(ticket.tier) > tier_rank(Tier.GRID) else approver
    officers = directory.officers_for(ticket.grid, tier, ticket.type)
    if ticket.dispatch is not None:  # a department asks whoever dispatched the case
        officers = [p for p in (directory.person(ticket.dispatch.by),) if p is not None]
    notices = [_chat(Text.SUSPENSION_REQUESTED, new, actor=actor, note=reason)]
    notices += [_dm(Text.OFFICER_SUSPENSION_REQUEST, p.id, new, actor=actor, note=reason) for p in officers]
    event = TicketEvent(EventKind.SUSPENSION_REQUESTED, actor, now, {"reason": reason, "to": [p.id for p in officers]})
    return Outcome(new, (event,), tuple(notices))


def suspend(ticket: Ticket, actor: str, reason: str, now: datetime) -> Outcome:
    """挂账, by an officer: with their own reason or approving the worker's request. No clock runs."""
    if ticket.state not in OPEN_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    reason = reason or ticket.suspension
    if not reason:
        raise Refused(Text.SUSPEND_NEEDS_REASON, **notice_params(ticket))
    new = replace(
        ticket,
        state=TicketState.SUSPENDED,
        extension=None,
        suspension=reason[:500],
        clock=ticket.clock.restarted(Phase.NONE, now, ticket.tier),
    )
    notices = [_chat(Text.TICKET_SUSPENDED, new, actor=actor, note=new.suspension)]
    if new.assignee:
        notices.append(_dm(Text.WORKER_SUSPENDED, new.assignee, new, actor=actor, note=new.suspension))
    event = TicketEvent(EventKind.SUSPENDED, actor, now, {"reason": new.suspension, "state_before": ticket.state.value})
    return Outcome(new, (event,), tuple(notices))


def resume(ticket: Ticket, actor: str, now: datetime) -> Outcome:
    """Lift 挂账: the case is back in hand with a fresh resolve deadline at its tier."""
    if ticket.state is not TicketState.SUSPENDED:
        raise Refused(Text.NOT_SUSPENDED, **notice_params(ticket))
    new = replace(
        ticket,
        state=TicketState.ACCEPTED,
        suspension="",
        clock=ticket.clock.restarted(Phase.RESOLVE, now, ticket.tier),
    )
    return Outcome(new, (TicketEvent(EventKind.RESUMED, actor, now),), (_chat(Text.TICKET_RESUMED, new, actor=actor),))


def reassign(ticket: Ticket, actor: str, worker: str, directory: Directory, now: datetime) -> Outcome:
    """改派 (admin web): someone else takes the case; they must accept it afresh at the case's tier.
    Only someone who may then act on it (`Directory.may_take`): a person who does not serve the case's
    grid would get the resident's details and could not accept, so the case would be stuck."""
    if ticket.state not in OPEN_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    if ticket.dispatch is not None:  # a department holds it: it returns it (退单) or the dispatcher re-dispatches
        raise Refused(Text.ALREADY_DISPATCHED, **notice_params(ticket, department_name=ticket.dispatch.department))
    if not directory.may_take(worker, ticket.grid, ticket.type, ticket.tier):
        raise Refused(Text.NOT_A_WORKER, **notice_params(ticket))
    if worker == ticket.assignee:
        raise Refused(Text.SAME_WORKER, **notice_params(ticket))
    new = replace(
        ticket,
        state=TicketState.REPORTED,
        assignee=worker,
        clock=ticket.clock.restarted(Phase.ACCEPT, now, ticket.tier),
    )
    notices = [_chat(Text.TICKET_REASSIGNED, new, actor=actor), _dm(Text.WORKER_NEW_TICKET, worker, new)]
    if ticket.assignee:
        notices.append(_dm(Text.WORKER_UNASSIGNED, ticket.assignee, new, actor=actor))
    event = TicketEvent(EventKind.REASSIGNED, actor, now, {"from": ticket.assignee, "to": worker})
    return Outcome(new, (event,), tuple(notices))


def dispatch_nearby(ticket: Ticket, actor: str, worker: str, metres: int, directory: Directory,
                    now: datetime) -> Outcome:  # fmt: skip
    """就近派单 (the command centre's map): 改派 to someone last seen `metres` from the case; their ping
    says how far they are."""
    outcome = reassign(ticket, actor, worker, directory, now)
    far = f"{metres} 米" if metres < 1000 else f"{metres / 1000:.1f} 公里"
    ping = _dm(Text.WORKER_DISPATCHED_NEARBY, worker, outcome.ticket, actor=actor, note=far)
    notices = tuple(ping if n.template is Text.WORKER_NEW_TICKET and n.person_id == worker else n
                    for n in outcome.notices)  # fmt: skip
    event = replace(outcome.events[0], detail={**outcome.events[0].detail, "metres": metres, "nearby": True})
    return Outcome(outcome.ticket, (event,), notices)


def escalate(ticket: Ticket, actor: str, reason: str, directory: Directory, now: datetime) -> Outcome:
    """提级 by an officer in the admin web: like 吹哨, to the next tier of the ladder, fresh deadline."""
    outcome = whistle(ticket, actor, reason, directory, now)
    event = TicketEvent(
        EventKind.ESCALATED, actor, now, {"tier": outcome.ticket.tier.value, "reason": reason, "whistle": False}
    )
    chat = _chat(Text.TICKET_ESCALATED_BY_STAFF, outcome.ticket, actor=actor, note=reason)
    return Outcome(outcome.ticket, (event,), (chat, *outcome.notices[1:]))


def close_by_staff(ticket: Ticket, actor: str, reason: str, now: datetime) -> Outcome:
    """结案 from the admin web with a reason (a duplicate, not ours to handle, settled offline …)."""
    if ticket.state not in LIVE_STATES:
        raise Refused(Text.NOT_OPEN, **notice_params(ticket))
    if not reason.strip():
        raise Refused(Text.CLOSE_NEEDS_REASON, **notice_params(ticket))
    new = replace(_closed(ticket, now, CloseReason.BY_STAFF), verify_pending=False, extension=None)
    notices = [_chat(Text.TICKET_CLOSED_BY_STAFF, new, actor=actor, note=reason)]
    if ticket.assignee and ticket.state is not TicketState.DRAFT:
        notices.append(_dm(Text.WORKER_CLOSED_BY_STAFF, ticket.assignee, new, actor=actor, note=reason))
    event = TicketEvent(EventKind.CLOSED, actor, now, {"reason": CloseReason.BY_STAFF.value, "note": reason[:500]})
    return Outcome(new, (event,), tuple(notices))


def escalation_pings(ticket: Ticket, directory: Directory, template: Text, **extra: object) -> list[Notice]:
    officers = directory.officers_for(ticket.grid, ticket.tier, ticket.type)
    return [_dm(template, p.id, ticket, **extra) for p in officers]


def urgent_pings(ticket: Ticket, directory: Directory) -> list[Notice]:
    """Every officer on every tier of the ladder, each once."""
    seen: dict[str, Notice] = {}
    for step in ticket.policy.ladder:
        for person in directory.officers_for(ticket.grid, step.tier, ticket.type):
            seen.setdefault(person.id, _dm(Text.OFFICER_URGENT, person.id, ticket, tier=step.tier.value))
    return list(seen.values())


def _chat(template: Text, ticket: Ticket, **extra: object) -> Notice:
    return Notice(template, chat_id=ticket.chat_id, ticket_id=ticket.id, params=notice_params(ticket, **extra))


def _dm(template: Text, person_id: str, ticket: Ticket, **extra: object) -> Notice:
    return Notice(template, person_id=person_id, ticket_id=ticket.id, params=notice_params(ticket, **extra))


def is_active(ticket: Ticket) -> bool:
    return ticket.state in ACTIVE_STATES


def is_live(ticket: Ticket) -> bool:
    """A deadline may be running (a draft waiting for its place, or an active case)."""
    return ticket.state in LIVE_STATES


def _require_reporter(ticket: Ticket, actor: str) -> None:
    if actor != ticket.reporter:
        raise Refused(Text.ONLY_REPORTER, **notice_params(ticket))


def _require_resident(ticket: Ticket, actor: str) -> None:
    if actor not in ticket.residents:
        raise Refused(Text.ONLY_REPORTER, **notice_params(ticket))


def notice_params(ticket: Ticket, **extra: object) -> dict[str, object]:
    kind = ticket.subtype
    return {
        "conditions": f"（{kind.name}｜{kind.conditions}）" if kind and kind.conditions else "",
        "ticket_id": ticket.id,
        "type": ticket.type,
        "grid": ticket.grid,
        "location": ticket.location,
        "text": ticket.text,
        "reporter": ticket.reporter,
        "residents": list(ticket.residents),
        "worker": ticket.assignee or "",
        "tier": ticket.tier.value,
        "state": ticket.state.value,
        **extra,
    }
