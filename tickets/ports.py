"""The seams between the core and the outside world. Adapters live in `storage/` and `bot/`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Protocol, Self

from tickets import rollups
from tickets.accounts import Account, AuditEntry
from tickets.model import Notice, Ticket, TicketEvent, TicketState, Tier
from tickets.points import PointStore


class DuplicateMessage(Exception):
    """A message with this (chat, client_id) is already stored; the transaction is rolled back."""


class DuplicateCase(Exception):
    """A ticket with this external id (the city platform's case id) is already stored; the
    transaction is rolled back."""


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Delivery(StrEnum):
    RECEIVED = "received"  # inbound, stored, not yet interpreted
    HANDLED = "handled"  # inbound, interpreted
    FAILED = "failed"  # inbound whose handling raised; kept for a retry
    PENDING = "pending"  # outbound, waiting for the channel
    SENT = "sent"
    DEAD = "dead"  # outbound, gave up after the last attempt


@dataclass(frozen=True)
class StoredMessage:
    """One line of a transcript: a chat message (chat_id) or a direct message (person_id)."""

    id: int
    direction: Direction
    sender: str
    text: str
    created_at: datetime
    status: Delivery
    chat_id: str | None = None
    person_id: str | None = None
    ticket_id: int | None = None
    reply_to: int | None = None
    client_id: str | None = None
    cause_id: int | None = None
    channel: str = "web"
    attempts: int = 0
    attachments: tuple[Mapping[str, object], ...] = ()  # photos, shared places (as the channel gave them)
    template: str | None = None  # outbound: the template it was rendered from (channels pick buttons by it)
    intent: str | None = None  # inbound: what the bot read it as (recorded when it was handled)
    private: bool = False  # a line of a one-to-one conversation kept to its chat for routing: not in the transcript


@dataclass(frozen=True)
class NewMessage:
    direction: Direction
    sender: str
    text: str
    status: Delivery
    chat_id: str | None = None
    person_id: str | None = None
    ticket_id: int | None = None
    reply_to: int | None = None
    client_id: str | None = None
    cause_id: int | None = None
    channel: str = "web"
    attachments: tuple[Mapping[str, object], ...] = ()
    not_before: datetime | None = None  # outbound: not delivered before this
    template: str | None = None
    private: bool = False


@dataclass(frozen=True)
class TicketQuery:
    """The admin's ticket filter. `grids` None: every grid; an empty set: none (an officer with no grids)."""

    grids: frozenset[str] | None = None
    states: tuple[TicketState, ...] = ()
    types: tuple[str, ...] = ()
    tiers: tuple[Tier, ...] = ()
    created_from: datetime | None = None
    created_to: datetime | None = None  # exclusive
    text: str = ""  # in the report text, the place or the reporter
    ids: tuple[int, ...] = ()
    overdue_at: datetime | None = None  # only cases overdue at this moment (`due_at` passed)
    before_id: int | None = None  # keyset paging (`TicketStore.page`): ids below this one
    limit: int = 50
    offset: int = 0


class TicketStore(Protocol):
    async def next_id(self) -> int: ...

    async def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None: ...

    async def insert(self, ticket: Ticket, next_due_at: datetime | None, *, due_at: datetime | None = None) -> None:
        """`due_at`: when the case turns overdue (`escalation.planner.overdue_at`), for the live figures."""
        ...

    async def update(
        self, ticket: Ticket, next_due_at: datetime | None, expected_token: int, *, due_at: datetime | None = None
    ) -> bool:
        """Write the ticket only if its stored clock token is still `expected_token` (fencing)."""
        ...

    async def live_counts(self, grids: Sequence[str] | None, now: datetime) -> list[LiveCount]:
        """Active cases (reported, accepted, resolved, on hold) of `grids` (None: all) per grid × tier × state,
        with how many are overdue at `now` (indexed, over active cases only)."""
        ...

    async def in_hand(self, grids: Sequence[str] | None) -> dict[str, int]:
        """Active cases per assignee."""
        ...

    async def page(self, query: TicketQuery) -> list[Ticket]:
        """Up to `query.limit` matching cases by id, newest first, below `query.before_id` (no count, no
        offset: the pages of an export of any size)."""
        ...

    async def batch_after(self, after_id: int, limit: int) -> list[Ticket]:
        """Up to `limit` cases with ids above `after_id`, by id (a rebuild's pages)."""
        ...

    async def set_due(self, due: Mapping[int, datetime | None]) -> None:
        """Refresh `due_at` of the given cases."""
        ...

    async def created_per_grid(self, start: datetime, end: datetime) -> dict[str, int]: ...

    async def closed_per_grid(self, start: datetime, end: datetime) -> dict[str, int]:
        """Cases closed (a `closed` event) in [start, end), per grid."""
        ...

    async def carded(self, kind: str, start: datetime, end: datetime, grids: Sequence[str] | None) -> list[Ticket]:
        """Cases created in [start, end) with a `kind` event (red_card …), oldest first."""
        ...

    async def add_events(self, ticket_id: int, events: Sequence[TicketEvent]) -> None: ...

    async def events(self, ticket_id: int) -> list[TicketEvent]: ...

    async def due(self, now: datetime, limit: int) -> list[int]: ...

    async def scheduled(self, until: datetime) -> list[tuple[int, datetime, int]]:
        """(id, next step's time, clock token) of every ticket with a step due by `until` (indexed)."""
        ...

    async def counts(self) -> dict[str, dict[str, int]]:
        """{"tickets": {state: n}, "tiers": {tier: n open}}"""
        ...

    async def created_between(self, start: datetime, end: datetime, grids: Sequence[str] = ()) -> list[Ticket]: ...

    async def events_between(
        self, start: datetime, end: datetime, kinds: Sequence[str]
    ) -> list[tuple[int, TicketEvent]]: ...

    async def events_of(self, ticket_ids: Sequence[int]) -> dict[int, list[TicketEvent]]: ...

    async def find(
        self,
        *,
        chat_id: str | None = None,
        reporter: str | None = None,
        assignee: str | None = None,
        states: Sequence[TicketState] = (),
        ticket_type: str | None = None,
        grids: Sequence[str] = (),
        limit: int = 200,
    ) -> list[Ticket]: ...

    async def search(self, query: TicketQuery) -> tuple[list[Ticket], int]:
        """One page of the matching tickets, newest first, and how many match in all."""
        ...


class MessageStore(Protocol):
    async def add(self, message: NewMessage, now: datetime) -> StoredMessage: ...

    async def get(self, message_id: int) -> StoredMessage | None: ...

    async def by_client_id(self, chat_id: str, client_id: str) -> StoredMessage | None: ...

    async def caused_by(self, cause_id: int) -> list[StoredMessage]: ...

    async def previous_from(self, chat_id: str, sender: str, before_id: int) -> StoredMessage | None:
        """The sender's inbound message in this chat just before `before_id` (what they said last)."""
        ...

    async def set_status(self, message_id: int, status: Delivery, *, error: str | None = None) -> None: ...

    async def claim_handled(self, message_id: int, intent: str | None) -> bool:
        """Mark an inbound message handled unless it already is; False means another handler
        (a concurrent retry of the same client_id) committed first, and this one must roll back."""
        ...

    async def due_outbound(self, now: datetime, limit: int) -> list[StoredMessage]: ...

    async def mark_sent(self, message_ids: Sequence[int]) -> None: ...

    async def record_failure(self, message_id: int, error: str, retry_at: datetime | None) -> None: ...

    async def outbox_counts(self) -> dict[str, int]:
        """Outbound messages still pending or dead, by status."""
        ...

    async def by_status(self, status: Delivery, limit: int) -> list[tuple[StoredMessage, str | None]]: ...

    async def retry(self, message_id: int, now: datetime) -> bool: ...

    async def chat(self, chat_id: str, after: int, limit: int) -> list[StoredMessage]:
        """The group's transcript: what was said in the group and the bot's group posts, never a
        one-to-one line (`private`) routed to the group's chat, nor a direct ping (`person_id`)."""
        ...

    async def inbox(self, person_id: str, after: int, limit: int) -> list[StoredMessage]: ...

    async def of_ticket(self, ticket_id: int, limit: int) -> list[StoredMessage]:
        """Every message threaded to the ticket (chat posts and direct pings), oldest first."""
        ...


@dataclass(frozen=True)
class Bulletin:
    id: int
    kind: str  # monthly | daily
    period: str  # 2026-11 | 2026-12-01
    scope: str  # the node its figures cover
    created_at: datetime
    body: Mapping[str, object]
    text: str


class RecordStore(Protocol):
    """Check-ins (报平安), once-per-key job runs, and kept bulletins."""

    async def check_in(self, person_id: str, day: str, at: datetime, text: str) -> bool:
        """Record a check-in; False when this person already checked in that day."""
        ...

    async def checked_in(self, day_from: str, day_to: str) -> list[tuple[str, str]]:
        """(person_id, day) of every check-in between the two days, inclusive."""
        ...

    async def claim_job(self, key: str, at: datetime) -> bool:
        """True for the first caller with this key (the job runs), False after (it ran already)."""
        ...

    async def save_bulletin(self, kind: str, period: str, scope: str, at: datetime,
                            body: Mapping[str, object], text: str) -> int: ...  # fmt: skip

    async def bulletins(self, limit: int = 100) -> list[Bulletin]: ...

    async def bulletin(self, bulletin_id: int) -> Bulletin | None: ...


class ChannelStore(Protocol):
    """How external platforms map onto ours: chats, people, messages (for reply threading)."""

    async def bind_chat(self, channel: str, external_id: str, chat_id: str) -> None: ...

    async def chat_of(self, channel: str, external_id: str) -> str | None: ...

    async def external_chats(self, channel: str, chat_id: str) -> list[str]: ...

    async def bindings(self) -> list[tuple[str, str, str]]:
        """Every (channel, external chat, our chat id) binding."""
        ...

    async def link_person(self, channel: str, external_id: str, person_id: str) -> None: ...

    async def person_of(self, channel: str, external_id: str) -> str | None: ...

    async def preferred_channel(self, person_id: str) -> str | None:
        """The channel of the person's most recently linked identity: where their pings go."""
        ...

    async def external_person(self, channel: str, person_id: str) -> str | None: ...

    async def remember(self, channel: str, external_chat: str, external_id: str, message_id: int) -> None: ...

    async def message_of(self, channel: str, external_chat: str, external_id: str) -> int | None: ...

    async def external_message(self, channel: str, external_chat: str, message_id: int) -> str | None: ...

    async def marked(self, channel: str, external_chat: str, prefix: str) -> list[int]:
        """Our message ids remembered for this chat under external ids starting with `prefix`."""
        ...

    async def forget(self, channel: str, external_chat: str, external_id: str) -> None: ...

    async def use_once(self, key: str) -> bool:
        """Spend a one-time key (a link code's): True the first time, False ever after."""
        ...

    async def open_window(self, channel: str, external_id: str, at: datetime) -> None:
        """The person wrote to us: their send window (re)opens with nothing used."""
        ...

    async def use_window(self, channel: str, external_id: str, now: datetime, limit: int, span_s: int) -> bool:
        """Take one send from the person's window if it is open and not used up."""
        ...

    async def use_quota(
        self, channel: str, external_id: str, now: datetime, amount: int, limit: int, span_s: int
    ) -> bool:
        """Take `amount` from a budget of `limit` per `span_s` seconds (counted from the span's first
        use; a span that ran out starts afresh); False, and nothing taken, when it would go over."""
        ...


@dataclass(frozen=True)
class WebSession:
    username: str
    csrf: str
    expires_at: datetime


class AccountStore(Protocol):
    """Admin web accounts, their login sessions (by token hash) and the audit log."""

    async def get(self, username: str, *, for_update: bool = False) -> Account | None:
        """The account; `for_update` locks its row until the unit of work ends (a read-modify-write
        of its failure count that concurrent logins cannot undo)."""
        ...

    async def save(self, account: Account) -> None:
        """Insert or replace the account."""
        ...

    async def all(self) -> list[Account]: ...

    async def open_session(self, token_hash: str, session: WebSession) -> None: ...

    async def session(self, token_hash: str) -> WebSession | None: ...

    async def close_session(self, token_hash: str) -> None: ...

    async def close_sessions_of(self, username: str) -> None: ...

    async def audit(self, entry: AuditEntry) -> None: ...

    async def audit_log(self, limit: int, offset: int = 0, target: str | None = None) -> list[AuditEntry]: ...


@dataclass(frozen=True)
class PlatformDelivery:
    """One outbound message on its way to one platform (Telegram, WeChat, WeCom)."""

    id: int
    message: StoredMessage
    platform: str
    status: Delivery
    attempts: int
    error: str | None = None


class DeliveryStore(Protocol):
    """The outbox's second half: one delivery per (message, platform), claimed, retried, given up."""

    async def fan_out(self, plan: Mapping[int, Sequence[str]], now: datetime) -> None:
        """For each message id, a pending delivery per platform (a repeat adds nothing); the messages
        leave the outbox queue."""
        ...

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[PlatformDelivery]:
        """The due deliveries, oldest first, each held until `lease_until` so no other process takes it."""
        ...

    async def sent(self, delivery_id: int, now: datetime) -> None: ...

    async def failed(self, delivery_id: int, error: str, retry_at: datetime | None) -> None:
        """One failed attempt; no `retry_at` means give up (a dead letter)."""
        ...

    async def postpone(self, delivery_ids: Sequence[int], until: datetime) -> None:
        """Not before `until`, without spending an attempt (a wait, or the rest of a conversation)."""
        ...

    async def of_message(self, message_id: int) -> list[PlatformDelivery]: ...

    async def by_status(self, status: Delivery, limit: int) -> list[PlatformDelivery]:
        """Newest first, with their last error (dead letters for the admins)."""
        ...

    async def counts(self) -> dict[str, int]:
        """Pending and dead deliveries."""
        ...

    async def retry(self, message_id: int, now: datetime) -> int:
        """A message's dead deliveries go back to pending with fresh attempts; how many did."""
        ...


@dataclass(frozen=True)
class CityPush:
    """One timeline event on its way to the city platform (the push outbox): `body` is what the
    platform receives, with the event's id added as `id` when it is sent."""

    id: int
    ticket_id: int
    event_id: int
    body: Mapping[str, object]
    status: Delivery
    attempts: int
    created_at: datetime
    error: str | None = None


class CityStore(Protocol):
    """The city platform's side of the database: its cases by their id there, and the push outbox
    (each push claimed under a lease, retried, given up into a dead letter)."""

    async def case_of(self, external_id: str) -> int | None:
        """Our ticket id of the city's case `external_id`, if we have it."""
        ...

    async def queue(self, ticket_id: int, bodies: Sequence[Mapping[str, object]], now: datetime) -> None:
        """A pending push per body, for the ticket's last `len(bodies)` timeline events in order: called
        right after `TicketStore.add_events` in the transaction that wrote (and so locked) the ticket."""
        ...

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[CityPush]:
        """The due pushes, oldest first, each held until `lease_until` so no other process takes it; a push
        waits behind an earlier pending one of its ticket."""
        ...

    async def sent(self, push_id: int, now: datetime) -> None: ...

    async def failed(self, push_id: int, error: str, retry_at: datetime | None) -> None:
        """One failed attempt; no `retry_at` means give up (a dead letter)."""
        ...

    async def postpone(self, push_ids: Sequence[int], until: datetime) -> None: ...

    async def by_status(self, status: Delivery, limit: int) -> list[CityPush]:
        """Newest first, with their last error."""
        ...

    async def counts(self) -> dict[str, int]:
        """Pending and dead pushes."""
        ...

    async def retry(self, push_id: int) -> bool:
        """A dead push goes back to pending with fresh attempts, due at once; False if it is not dead."""
        ...


@dataclass(frozen=True)
class Position:
    """Where a person last shared their position (the map's workers layer, nearest-worker dispatch)."""

    person_id: str
    at: tuple[float, float]  # (lng, lat)
    seen: datetime


@dataclass(frozen=True)
class LiveCase:
    """An open case as the map draws it: where it is, if known (a shared location), and what it is."""

    id: int
    grid: str
    type: str
    location: str
    tier: Tier
    urgent: bool
    at: tuple[float, float] | None  # (lng, lat) of a location shared with the case


@dataclass(frozen=True)
class Recurring:
    """Cases of one type at one written place of one grid in a period (the map's hotspots, 主动治理)."""

    grid: str
    type: str
    location: str
    count: int
    last: datetime


class PlaceStore(Protocol):
    """The map's data: people's last positions, cases' points, open cases' points and recent cases' places
    (the live counts are `TicketStore.live_counts`)."""

    async def record_position(self, person_id: str, at: tuple[float, float], now: datetime) -> None:
        """Upsert a person's last position (`at` is (lng, lat))."""
        ...

    async def positions(self, since: datetime, people: Sequence[str] | None = None) -> list[Position]:
        """Positions seen at or after `since` (of these people only, when given)."""
        ...

    async def pin_case(self, ticket_id: int, at: tuple[float, float]) -> None:
        """Upsert where a case is (a location shared with it: the last one wins)."""
        ...

    async def point_of(self, ticket_id: int) -> tuple[float, float] | None:
        """Where a case was pinned (a location shared with it), if it was."""
        ...

    async def live_cases(self, grids: Sequence[str] | None, limit: int) -> list[LiveCase]:
        """The newest active cases (of these grids), with their points where known."""
        ...

    async def recurring(
        self, grids: Sequence[str] | None, since: datetime, at_least: int, limit: int = 5000
    ) -> list[Recurring]:
        """(grid, type, written location) groups of cases created since `since` with a place, by an SQL
        aggregate, the largest `limit` groups; `at_least` filters groups in SQL (the caller merges
        spellings of one place, so it passes 1)."""
        ...


@dataclass(frozen=True)
class LiveCount:
    grid: str
    tier: str
    state: str
    count: int
    overdue: int


class FigureStore(Protocol):
    """The figures' rollups (`tickets.rollups`): what each case adds now, and the sums."""

    async def held(self, ticket_id: int) -> Held | None:
        """What the rollups hold for a case now (read after the case's row is locked by its update)."""
        ...

    async def hold(self, ticket_id: int, held: Held) -> None: ...

    async def hold_many(self, held: Mapping[int, Held]) -> None:
        """`hold` for many cases at once (a rebuild)."""
        ...

    async def move(self, deltas: Mapping[rollups.Key, rollups.Vector]) -> None:
        """Add each delta to its row (created at zero when missing)."""
        ...

    async def sums(
        self,
        nodes: Sequence[str] | None,
        dim: str,
        spans: Sequence[rollups.Span],
        group: str,
        metrics: Sequence[str] = rollups.METRICS,
        keys: Sequence[str] | None = None,
    ) -> dict[str, rollups.Vector]:
        """Summed `metrics` of `dim` rows of `nodes` (None: every node) over `spans` (of `keys` only when
        given), grouped by `group` (`node`, `key` or `period`)."""
        ...

    async def clear(self) -> None:
        """Forget every rollup and held contribution (before a rebuild)."""
        ...


@dataclass(frozen=True)
class Held:
    chain: tuple[str, ...]
    snapshot: rollups.Snapshot
    facts: rollups.Facts


class UnitOfWork(Protocol):
    """One database transaction; leaving the block commits, an exception rolls back.
    The stores are read-only members: an adapter may hold them as plain attributes."""

    @property
    def tickets(self) -> TicketStore: ...

    @property
    def messages(self) -> MessageStore: ...

    @property
    def records(self) -> RecordStore: ...

    @property
    def channels(self) -> ChannelStore: ...

    @property
    def deliveries(self) -> DeliveryStore: ...

    @property
    def accounts(self) -> AccountStore: ...

    @property
    def points(self) -> PointStore: ...

    @property
    def city(self) -> CityStore: ...

    @property
    def places(self) -> PlaceStore: ...

    @property
    def figures(self) -> FigureStore: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class Notifier(Protocol):
    """Turns notices into outbox rows inside the caller's transaction."""

    async def notify(
        self, uow: UnitOfWork, notices: Sequence[Notice], *, now: datetime, cause_id: int | None = None
    ) -> list[StoredMessage]: ...
