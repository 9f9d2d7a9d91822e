"""The ticket, its states and tiers, and what a transition produces.

Everything here is immutable; transitions in `tickets.loop` return new values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType


class TicketState(StrEnum):
    REPORTED = "reported"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({TicketState.REPORTED, TicketState.ACCEPTED})
ACTIVE_STATES = frozenset({TicketState.REPORTED, TicketState.ACCEPTED, TicketState.RESOLVED})


class Tier(StrEnum):
    """Who supervises a case. A micro-grid is tier `grid`; departments sit beside the ladder's top."""

    GRID = "grid"
    COMMUNITY = "community"
    TOWNSHIP = "township"
    DISTRICT = "district"
    DEPARTMENT = "department"


TIER_ORDER: tuple[Tier, ...] = (
    Tier.GRID,
    Tier.COMMUNITY,
    Tier.TOWNSHIP,
    Tier.DISTRICT,
    Tier.DEPARTMENT,
)


def tier_rank(tier: Tier) -> int:
    return TIER_ORDER.index(tier)


class Phase(StrEnum):
    """Which deadline is running: accept the case, resolve it, or none (waiting on the resident)."""

    ACCEPT = "accept"
    RESOLVE = "resolve"
    NONE = "none"


@dataclass(frozen=True)
class LadderStep:
    tier: Tier
    ack_s: int


@dataclass(frozen=True)
class SlaPolicy:
    """An escalation policy as snapshotted onto a ticket when its clock starts."""

    name: str
    accept_s: int
    resolve_s: int
    nag_at: tuple[float, ...]
    ladder: tuple[LadderStep, ...]

    def duration(self, phase: Phase) -> int:
        if phase is Phase.ACCEPT:
            return self.accept_s
        if phase is Phase.RESOLVE:
            return self.resolve_s
        return 0


@dataclass(frozen=True)
class Clock:
    """The running deadline: the schedule is derived from (policy, phase, started_at, base_tier).

    `step` indexes the next step of that schedule; `token` fences every change so a
    stale timer can never fire twice.
    """

    phase: Phase
    started_at: datetime
    base_tier: Tier
    step: int = 0
    token: int = 0

    def restarted(self, phase: Phase, now: datetime, base_tier: Tier) -> Clock:
        return Clock(phase=phase, started_at=now, base_tier=base_tier, step=0, token=self.token + 1)


@dataclass(frozen=True)
class Ticket:
    id: int
    type: str
    state: TicketState
    tier: Tier
    grid: str
    chat_id: str
    reporter: str
    assignee: str | None
    location: str
    text: str
    created_at: datetime
    policy: SlaPolicy
    clock: Clock
    rating: int | None = None
    urgent: bool = False  # an emergency (着火, 煤气泄漏 …): every tier was pinged at once

    def evolve(self, **changes: object) -> Ticket:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class TicketEvent:
    kind: str
    actor: str
    at: datetime
    detail: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Notice:
    """Something the bot must say: a template key rendered at the edge, to a chat or a person."""

    template: str
    chat_id: str | None = None
    person_id: str | None = None
    ticket_id: int | None = None
    params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Outcome:
    ticket: Ticket
    events: tuple[TicketEvent, ...] = ()
    notices: tuple[Notice, ...] = ()


class Refused(Exception):
    """A transition that is not allowed; `reason` is a template key for the polite refusal."""

    def __init__(self, reason: str, **params: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params
