"""Proof, verification, rework (处置后照片 · 核查 · 返工), as GB/T 30428 part 8 runs a case's close.

- Where the policy says `proof`, resolving needs at least one after-photo: a photo staff sent for
  the case since it was last (re)opened for handling, or one on the resolve message itself. The
  report's own photos are the before-photos.
- Where the policy says `verify: community`, a resolve waits for the community's 核查 (community
  officers or above): passed, the resident's rating window opens (or the case closes on the rating
  the resident already gave); failed, the case goes back as 返工 with a fresh, shorter deadline,
  counted against its handler. A case with a failed verification never closes as 默认满意.

Pure: every function takes `now` and returns an `Outcome` or raises `Refused`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from tickets import departments, transitions
from tickets.directory import Directory
from tickets.model import (
    NODE_ORDER,
    Clock,
    CloseReason,
    EventKind,
    Notice,
    Outcome,
    Phase,
    Refused,
    Ticket,
    TicketEvent,
    TicketState,
    Tier,
    Verify,
    tier_rank,
)
from tickets.texts import Text
from tickets.transitions import notice_params

# Where the handling (re)starts: photos before it are not proof of this round's fix.
_ROUND_STARTS = frozenset({EventKind.REPORTED, EventKind.REOPENED, EventKind.VERIFICATION_FAILED})


def images(attachments: Sequence[object]) -> list[Mapping[str, object]]:
    return [a for a in attachments if isinstance(a, Mapping) and a.get("kind") == "image"]


def before_photos(history: Sequence[TicketEvent]) -> list[Mapping[str, object]]:
    """The report's photos and what the residents added: what the place looked like."""
    return [a for e in history if e.kind in (EventKind.REPORTED, EventKind.SUPPLEMENTED)
            for a in images(_attachments(e))]  # fmt: skip


def staff_photos(ticket: Ticket, history: Sequence[TicketEvent]) -> list[Mapping[str, object]]:
    """Every photo staff sent for the case, all rounds (the 处置后照片 the ticket page and the API show)."""
    return [a for e in history if e.actor not in ticket.residents for a in images(_attachments(e))]


def after_photos(ticket: Ticket, history: Sequence[TicketEvent]) -> list[Mapping[str, object]]:
    """处置后照片: photos staff sent for the case since it was last (re)opened for handling."""
    start = max((i for i, e in enumerate(history) if e.kind in _ROUND_STARTS), default=0)
    return [a for e in history[start:] if e.actor not in ticket.residents for a in images(_attachments(e))]


def require_proof(ticket: Ticket, history: Sequence[TicketEvent], attachments: Sequence[object]) -> None:
    """Refuse a resolve without an after-photo where the policy asks for one."""
    if ticket.policy.proof and not (after_photos(ticket, history) or images(attachments)):
        raise Refused(Text.PROOF_REQUIRED, **notice_params(ticket))


def resolve(
    ticket: Ticket,
    actor: str,
    note: str,
    now: datetime,
    *,
    history: Sequence[TicketEvent],
    attachments: Sequence[object],
    directory: Directory,
) -> Outcome:
    """已处理 with the policy's proof and verification: refused without an after-photo where one is
    needed; with community verification the case waits for it before the rating window opens."""
    require_proof(ticket, history, attachments)
    done = transitions.resolve(ticket, actor, note, now, tuple(images(attachments)))
    waiting, pings = awaiting(ticket, done.ticket, directory, now)
    return Outcome(waiting, done.events, (*done.notices, *pings))


def awaiting(ticket: Ticket, resolved: Ticket, directory: Directory, now: datetime) -> tuple[Ticket, list[Notice]]:
    """After a resolve: with community verification, the verify clock and a ping to the community's
    officers; otherwise the ticket as it is (its feedback window runs)."""
    if ticket.policy.verify is not Verify.COMMUNITY:
        return resolved, []
    waiting = replace(resolved, verify_pending=True, clock=resolved.clock.restarted(Phase.VERIFY, now, resolved.tier))
    officers = directory.officers_for(ticket.grid, Tier.COMMUNITY, ticket.type)
    params = notice_params(waiting)
    return waiting, [Notice(Text.VERIFY_REQUEST, person_id=p.id, ticket_id=ticket.id, params=params) for p in officers]


def verify(
    ticket: Ticket, actor: str, actor_tier: Tier | None, passed: bool, reason: str, directory: Directory, now: datetime
) -> Outcome:
    """核查通过 opens the rating window (or closes on a rating already given); 核查不通过 (a reason is
    required) sends the case back as 返工 with the rework deadline."""
    if ticket.state is not TicketState.RESOLVED or not ticket.verify_pending:
        raise Refused(Text.NOT_AWAITING_VERIFICATION, **notice_params(ticket))
    if actor_tier not in NODE_ORDER or tier_rank(actor_tier) < tier_rank(Tier.COMMUNITY):
        raise Refused(Text.VERIFIERS_ONLY, **notice_params(ticket))
    if passed:
        return _passed(ticket, actor, now)
    if not reason:
        raise Refused(Text.VERIFY_NEEDS_REASON, **notice_params(ticket))
    return _failed(ticket, actor, reason[:500], directory, now)


def _passed(ticket: Ticket, actor: str, now: datetime) -> Outcome:
    event = TicketEvent(EventKind.VERIFIED, actor, now)
    if ticket.rating is not None:  # the resident rated while the community checked: that closes it
        clock = ticket.clock.restarted(Phase.NONE, now, ticket.tier)
        closed = replace(ticket, state=TicketState.CLOSED, verify_pending=False, clock=clock,
                         close_reason=CloseReason.RATED)  # fmt: skip
        closing = TicketEvent(EventKind.CLOSED, actor, now, {"reason": CloseReason.RATED.value})
        return Outcome(closed, (event, closing), (_chat(Text.TICKET_VERIFIED_CLOSED, closed, actor=actor),))
    waiting = replace(ticket, verify_pending=False, clock=ticket.clock.restarted(Phase.FEEDBACK, now, ticket.tier))
    return Outcome(waiting, (event,), (_chat(Text.TICKET_VERIFIED, waiting, actor=actor),))


def _failed(ticket: Ticket, actor: str, reason: str, directory: Directory, now: datetime) -> Outcome:
    handlers = departments.handlers(ticket, directory)
    reworks = ticket.reworks + 1
    clock = Clock(Phase.RESOLVE, now, ticket.clock.base_tier, token=ticket.clock.token + 1)
    new = replace(ticket, state=TicketState.ACCEPTED, verify_pending=False, reworks=reworks, clock=clock,
                  rating=None, ratings={})  # fmt: skip
    detail = {"reason": reason, "handler": ticket.department or ticket.assignee or "", "reworks": reworks}
    params = notice_params(new, actor=actor, note=reason)
    notices = [_chat(Text.TICKET_REWORK, new, actor=actor, note=reason)]
    notices += [Notice(Text.REWORK_ORDERED, person_id=pid, ticket_id=new.id, params=params) for pid in handlers]
    return Outcome(new, (TicketEvent(EventKind.VERIFICATION_FAILED, actor, now, detail),), tuple(notices))


def verify_overdue(ticket: Ticket, directory: Directory, now: datetime) -> Outcome:
    """The community did not verify in time: its officers and the township's are reminded; the case
    waits for the verification (no timer runs on; the dashboard shows it as overdue)."""
    to = [
        p.id for tier in (Tier.COMMUNITY, Tier.TOWNSHIP) for p in directory.officers_for(ticket.grid, tier, ticket.type)
    ]
    new = replace(ticket, clock=ticket.clock.restarted(Phase.NONE, now, ticket.tier))
    params = notice_params(ticket, phase=Phase.VERIFY.value)
    notices = tuple(Notice(Text.VERIFY_OVERDUE, person_id=pid, ticket_id=ticket.id, params=params) for pid in to)
    event = TicketEvent(EventKind.REMINDED, "system", now, {"phase": Phase.VERIFY.value, "to": to})
    return Outcome(new, (event,), notices)


def _chat(template: Text, ticket: Ticket, **extra: object) -> Notice:
    return Notice(template, chat_id=ticket.chat_id, ticket_id=ticket.id, params=notice_params(ticket, **extra))


def _attachments(event: TicketEvent) -> Sequence[object]:
    found = event.detail.get("attachments")
    return found if isinstance(found, list | tuple) else ()
