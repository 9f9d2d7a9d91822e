"""The policy editor's preview: what would happen to a case of a type reported at a given time,
if nobody acts ("a 路灯 report at 22:00 on Friday: nag at …, escalate at …"). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from escalation import planner
from escalation.policy import PolicyBook
from tickets.model import Clock, Phase, Ticket, TicketState, Tier


@dataclass(frozen=True)
class PreviewStep:
    at: datetime
    phase: Phase
    action: str  # deadline | nag | escalate | remind
    tier: Tier


def preview(book: PolicyBook, ticket_type: str, reported_at: datetime, urgent: bool = False) -> list[PreviewStep]:
    """The accept phase from `reported_at` with nobody taking the case; then, as if it were accepted
    at once, the resolve phase. Quiet hours, working time and holidays apply as in a real case."""
    policy = book.for_type(ticket_type)
    out: list[PreviewStep] = []
    for phase in (Phase.ACCEPT, Phase.RESOLVE):
        ticket = Ticket(
            id=0, type=ticket_type, state=TicketState.REPORTED, tier=Tier.GRID, grid="", chat_id="", reporter="",
            assignee=None, location="", text="", created_at=reported_at, policy=policy,
            clock=Clock(phase=phase, started_at=reported_at, base_tier=Tier.GRID, token=1), urgent=urgent,
        )  # fmt: skip
        out.append(PreviewStep(planner.phase_end(ticket), phase, "deadline", Tier.GRID))
        out += [PreviewStep(s.at, phase, s.action.value, s.tier) for s in planner.schedule(ticket)]
    return sorted(out, key=lambda s: (s.phase is Phase.RESOLVE, s.at))
