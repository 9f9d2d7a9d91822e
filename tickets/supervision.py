"""督办 cards, as the 数字城管 assessment runs them: a yellow card (黄牌督办) at the resolve deadline to
the handler and their leader, a red card (红牌督办) some workdays later to the tier above, and into
the monthly bulletin's 通报 list. The reminder before the deadline is the policy's nags.

Who leads a handler: for a grid worker, the community's officers (the red card goes to the
township's); for a department, whoever dispatched the case (the red card goes to the tier above that
one: the district's command centre for a township's dispatch, the district itself for its own).
"""

from __future__ import annotations

from datetime import datetime

from tickets import departments
from tickets.directory import Directory
from tickets.model import NODE_ORDER, EventKind, Notice, Ticket, TicketEvent, Tier
from tickets.texts import Text
from tickets.transitions import notice_params


def card(
    ticket: Ticket, directory: Directory, now: datetime, *, red: bool, due: datetime
) -> tuple[list[TicketEvent], list[Notice]]:
    """The card's timeline event and its pings."""
    handlers = departments.handlers(ticket, directory)
    to = _above(ticket, directory) if red else list(dict.fromkeys([*handlers, *_leaders(ticket, directory)]))
    template = Text.RED_CARD if red else Text.YELLOW_CARD
    params = notice_params(ticket, due=due, department_name=_department_name(ticket, directory))
    notices = [Notice(template, person_id=pid, ticket_id=ticket.id, params=params) for pid in to]
    kind = EventKind.RED_CARD if red else EventKind.YELLOW_CARD
    detail = {"handler": ticket.department or ticket.assignee or "", "due": due.isoformat(), "to": to}
    return [TicketEvent(kind, "system", now, detail)], notices


def _leaders(ticket: Ticket, directory: Directory) -> list[str]:
    if ticket.dispatch is not None:
        return [ticket.dispatch.by]
    return _officers(ticket, directory, Tier.COMMUNITY)


def _above(ticket: Ticket, directory: Directory) -> list[str]:
    if ticket.dispatch is not None:
        tier = ticket.dispatch.tier
        higher = (
            NODE_ORDER[min(NODE_ORDER.index(tier) + 1, len(NODE_ORDER) - 1)] if tier in NODE_ORDER else Tier.DISTRICT
        )
        return _officers(ticket, directory, higher)
    return _officers(ticket, directory, Tier.TOWNSHIP)


def _officers(ticket: Ticket, directory: Directory, tier: Tier) -> list[str]:
    return [p.id for p in directory.officers_for(ticket.grid, tier, ticket.type)]


def _department_name(ticket: Ticket, directory: Directory) -> str:
    return next((d.name for d in directory.departments if d.id == ticket.department), "")
