"""The ticket, its states and tiers, and what a transition produces.

Everything here is immutable; transitions in `tickets.transitions` return new values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

from tickets.texts import Text

LOCAL = ZoneInfo("Asia/Shanghai")  # all of China keeps one time zone (local days, quiet hours, figures)


class TicketState(StrEnum):
    DRAFT = "draft"  # reported without a usable place: waiting for the reporter's answer (or the timeout)
    REPORTED = "reported"
    ACCEPTED = "accepted"
    RESOLVED = "resolved"
    SUSPENDED = "suspended"  # 挂账: waiting on something outside anyone's control, approved by an officer
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATES = frozenset({TicketState.REPORTED, TicketState.ACCEPTED})
ACTIVE_STATES = frozenset({TicketState.REPORTED, TicketState.ACCEPTED, TicketState.RESOLVED, TicketState.SUSPENDED})
LIVE_STATES = ACTIVE_STATES | {TicketState.DRAFT}  # a deadline may be running


class CloseReason(StrEnum):
    CONFIRMED = "confirmed"
    RATED = "rated"
    DEFAULT_SATISFIED = "default_satisfied"  # no rating within the feedback time: 默认满意, counted apart
    BY_STAFF = "by_staff"  # closed from the admin web with a reason (重复、无效、已线下办结 …)
    NO_RATING = "no_rating"  # no rating after a failed verification (返工): never counted as 默认满意


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


NODE_ORDER: tuple[Tier, ...] = (Tier.GRID, Tier.COMMUNITY, Tier.TOWNSHIP, Tier.DISTRICT)  # the grid tree, bottom-up


def tier_rank(tier: Tier) -> int:
    return TIER_ORDER.index(tier)


class Phase(StrEnum):
    """Which deadline is running: the reporter's location answer, accepting the case, resolving it,
    the resident's feedback (then it closes as 默认满意), or none."""

    LOCATION = "location"
    ACCEPT = "accept"
    RESOLVE = "resolve"
    FEEDBACK = "feedback"
    SIGN = "sign"  # a department's 签收 after a dispatch (派单); the handling clock already runs
    VERIFY = "verify"  # 核查: the community checks a resolved case before the resident's rating window
    NONE = "none"


class Verify(StrEnum):
    """Who verifies a resolve (核查): the reporter's confirmation (the loop as it always was), or the
    community, before the resident's rating window opens."""

    REPORTER = "reporter"
    COMMUNITY = "community"


@dataclass(frozen=True)
class LadderStep:
    tier: Tier
    ack_s: int
    repeat: int = 0  # extra reminders to this tier, `ack_s` apart, before the case climbs on


@dataclass(frozen=True)
class SlaPolicy:
    """An escalation policy as snapshotted onto a ticket when its clock starts."""

    name: str
    accept_s: int
    resolve_s: int
    nag_at: tuple[float, ...]
    ladder: tuple[LadderStep, ...]
    location_s: int = 600  # how long a report without a place waits for the reporter's answer (0: never ask)
    feedback_s: int = 86400  # how long a resolved case waits for a rating before it closes as 默认满意
    quiet: tuple[int, int] | None = None  # quiet hours (minutes after local midnight): pings wait for the end
    working: tuple[int, int] | None = None  # count only these hours of workdays (None: calendar time)
    sign_s: int = 1800  # a department signs for (签收) a dispatched case within this; urgent: `sign_urgent_s`
    sign_urgent_s: int = 600
    proof: bool = False  # resolving needs an after-photo (处置后照片)
    verify: Verify = field(default_factory=lambda: Verify.REPORTER)  # who checks a resolve (核查)
    verify_s: int = 3600  # the community's time to verify (counted like the policy's other times)
    rework_s: int = 0  # the deadline of a rework (返工) after a failed verification; 0: half of `resolve_s`
    cards: bool = False  # 督办: a yellow card at the resolve deadline, a red one `red_card_days` workdays later
    red_card_days: int = 5
    # How the resolve phase alone counts, set by a case's subtype: "" as the rest of the policy, "working"
    # (the policy's working time, else 08:30–17:30 on workdays), "round" (24/7, no quiet hours).
    resolve_clock: str = ""
    subtype_deadlines: bool = True  # a subtype's own deadline replaces `resolve` (off: test and demo policies)

    def duration(self, phase: Phase, reopens: int = 0, urgent: bool = False, reworks: int = 0) -> int:
        if phase is Phase.RESOLVE and reworks:
            return self.rework_s or max(1, self.resolve_s // 2)  # 返工: a fresh, shorter deadline
        if phase is Phase.RESOLVE and reopens:
            return max(1, self.resolve_s // 2)  # 退回重办: a reopened case has priority
        if phase is Phase.VERIFY:
            return self.verify_s
        if phase is Phase.SIGN:
            return self.sign_urgent_s if urgent else self.sign_s
        return {
            Phase.LOCATION: self.location_s,
            Phase.ACCEPT: self.accept_s,
            Phase.RESOLVE: self.resolve_s,
            Phase.FEEDBACK: self.feedback_s,
        }.get(phase, 0)


@dataclass(frozen=True)
class Clock:
    """The running deadline: the schedule is derived from (policy, phase, started_at, base_tier).

    `step` indexes the next step of that schedule; `token` fences every change so a
    stale timer can never fire twice. `until` is a deadline an approved 延期 fixed for this
    running phase: any restart (返工, a reopen, a return, 报到 …) drops it with the phase.
    """

    phase: Phase
    started_at: datetime
    base_tier: Tier
    step: int = 0
    token: int = 0
    until: datetime | None = None

    def restarted(self, phase: Phase, now: datetime, base_tier: Tier) -> Clock:
        return Clock(phase=phase, started_at=now, base_tier=base_tier, step=0, token=self.token + 1)


@dataclass(frozen=True)
class Extension:
    """A handler's 延期申请: the deadline they ask for and why; the dispatching tier decides."""

    until: datetime
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class Dispatch:
    """The department holding a case (派单): who sent it, from which tier, when; its 签收; whether the
    tier above assigned it after two returns (指定: it cannot be returned again)."""

    department: str
    by: str
    tier: Tier
    at: datetime
    signed_by: str | None = None
    signed_at: datetime | None = None
    final: bool = False


@dataclass(frozen=True)
class CaseKind:
    """A case's subtype as snapshotted onto it: what the handler is shown and the export's code."""

    id: str
    name: str
    code: str = ""
    conditions: str = ""  # 立案条件/结案条件 as shown to the handler


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
    rating: int | None = None  # the first rating (the one that closed the case)
    urgent: bool = False  # an emergency (着火, 煤气泄漏 …): every tier was pinged at once
    followers: tuple[str, ...] = ()  # residents who reported the same thing and were linked (关注)
    ratings: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # person → 1..5
    close_reason: CloseReason | None = None
    reopens: int = 0  # times a resident sent it back; a reopened case gets half the resolve time
    suspension: str = ""  # 挂账 reason: requested by a worker (state unchanged) or approved (SUSPENDED)
    dispatch: Dispatch | None = None  # the department that holds the case, if one does
    returns: int = 0  # 退单: times a department sent this case back
    extension: Extension | None = None  # a 延期申请 waiting for the dispatching tier's decision
    reworks: int = 0  # 返工: verifications that failed
    subtype: CaseKind | None = None  # the subtype it was filed under (snapshotted with its policy)
    verify_pending: bool = False  # resolved, waiting for the community's 核查
    deadline: datetime | None = None  # the city platform's handling deadline (12345), for the whole case
    external_id: str | None = None  # the city platform's case id (12345), for a case that came from it

    @property
    def department(self) -> str | None:
        return self.dispatch.department if self.dispatch else None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def residents(self) -> tuple[str, ...]:
        """Everyone who reported this case: the reporter first, then the linked followers."""
        return (self.reporter, *(f for f in self.followers if f != self.reporter))


class EventKind(StrEnum):
    """What a timeline entry records (the `ticket_events.kind` column)."""

    REPORTED = "reported"
    LOCATED = "located"
    FOLLOWED = "followed"
    SUPPLEMENTED = "supplemented"
    ACCEPTED = "accepted"
    PROGRESS = "progress"
    RESOLVED = "resolved"
    CONFIRMED = "confirmed"
    RATED = "rated"
    CLOSED = "closed"
    REOPENED = "reopened"
    CANCELLED = "cancelled"
    UNFOLLOWED = "unfollowed"
    ESCALATED = "escalated"
    REPORTED_IN = "reported_in"
    SUSPENSION_REQUESTED = "suspension_requested"
    SUSPENDED = "suspended"
    RESUMED = "resumed"
    REASSIGNED = "reassigned"
    NAGGED = "nagged"
    REMINDED = "reminded"
    DISPATCHED = "dispatched"
    SIGNED = "signed"
    SIGN_OVERDUE = "sign_overdue"
    RETURNED = "returned"
    ARBITRATED = "arbitrated"
    EXTENSION_REQUESTED = "extension_requested"
    EXTENSION_APPROVED = "extension_approved"
    EXTENSION_REFUSED = "extension_refused"
    VERIFIED = "verified"
    VERIFICATION_FAILED = "verification_failed"
    YELLOW_CARD = "yellow_card"
    RED_CARD = "red_card"


@dataclass(frozen=True)
class TicketEvent:
    kind: EventKind
    actor: str
    at: datetime
    detail: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Notice:
    """Something the bot must say: a template key rendered at the edge, to a chat or a person."""

    template: Text
    chat_id: str | None = None
    person_id: str | None = None
    ticket_id: int | None = None
    params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    not_before: datetime | None = None  # held in the outbox until then (a ping asked during quiet hours)
    # A chat notice that answers someone on a one-to-one line (WeChat OA, the WeCom app): it goes back
    # to them through that line and is never part of the group's transcript. A ping to a person
    # marked private is about something said on such a line (its words do not send them to the group).
    private: bool = False
    # Files that go with it (`{"kind": "file", "bulletin": id, "name", "url"}`): platforms that carry
    # files attach them, the web shows the link.
    attachments: tuple[Mapping[str, object], ...] = ()


@dataclass(frozen=True)
class Outcome:
    ticket: Ticket
    events: tuple[TicketEvent, ...] = ()
    notices: tuple[Notice, ...] = ()


class Refused(Exception):
    """A transition that is not allowed; `reason` is a template key for the polite refusal."""

    def __init__(self, reason: Text, **params: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.params = params
