"""A case the city's hotline platform (12345, 接诉即办) hands to a micro-grid.

It opens like a resident's report (`transitions.open_ticket`): the case sits at the grid, the
grid's worker is pinged and the group is told, and the accept clock (接单) of the case's policy
starts. What differs: the reporter is the platform (`CITY_REPORTER`), the case keeps the platform's
id (`external_id`) and, when the platform set one, its handling deadline (`deadline`). That deadline
is what the handling clock aims at once the worker has taken the case (`planner.fixed_deadline`
applies while the clock's phase is RESOLVE): nags at the policy's fractions of the time left, then
the ladder climbs from the deadline. The group post names the type and the place only, never the
caller's words (a 12345 complaint is often about a neighbour); the worker's ping carries them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tickets.directory import Directory
from tickets.model import Notice, Outcome, SlaPolicy, TicketEvent
from tickets.texts import Text
from tickets.transitions import notice_params, open_ticket

CITY_REPORTER = "12345热线"  # the reporter of every city case; a name no chat sender may take (reserved)
_WORKER_TEMPLATES = frozenset({Text.WORKER_NEW_TICKET, Text.WORKER_CONSULT})


def open_city_case(
    *,
    ticket_id: int,
    external_id: str,
    ticket_type: str,
    grid: str,
    chat_id: str,
    assignee: str | None,
    location: str,
    text: str,
    policy: SlaPolicy,
    now: datetime,
    deadline: datetime | None = None,
    urgent: bool = False,
    directory: Directory | None = None,
) -> Outcome:
    """The city's case `external_id`, opened at `grid` (never a draft: a missing place is the worker's to find)."""
    opened = open_ticket(
        ticket_id=ticket_id, ticket_type=ticket_type, grid=grid, chat_id=chat_id, reporter=CITY_REPORTER,
        assignee=assignee, location=location, text=text, policy=policy, now=now, urgent=urgent, directory=directory,
    )  # fmt: skip
    ticket = replace(opened.ticket, external_id=external_id, deadline=deadline)
    reported = opened.events[0]
    detail = {**reported.detail, "external_id": external_id, "deadline": deadline.isoformat() if deadline else None}
    event = TicketEvent(reported.kind, reported.actor, reported.at, detail)
    params = notice_params(ticket, due=deadline) if deadline else notice_params(ticket)
    worker = Text.CITY_CASE_ASSIGNED_DUE if deadline else Text.CITY_CASE_ASSIGNED
    notices: list[Notice] = []
    for notice in opened.notices:
        if notice.chat_id is not None:
            notices.append(replace(notice, template=Text.CITY_CASE_OPENED, params=params))
        elif notice.person_id == assignee and notice.template in _WORKER_TEMPLATES:
            notices.append(replace(notice, template=worker, params=params))
        else:
            notices.append(notice)  # an urgent case's pings to every tier
    return Outcome(ticket, (event,), tuple(notices))
