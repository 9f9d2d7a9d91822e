"""SQL repositories behind the core's ports, one transaction per unit of work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Select, Table, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage import tables as t
from storage.accounts import SqlAccountStore
from storage.prepared import Run, begin_raw
from tickets.model import (
    LIVE_STATES,
    Clock,
    CloseReason,
    LadderStep,
    Phase,
    SlaPolicy,
    Ticket,
    TicketEvent,
    TicketState,
    Tier,
)
from tickets.ports import Bulletin, Delivery, Direction, DuplicateMessage, NewMessage, StoredMessage, TicketQuery

# The hot path's statements are built once: building a SQLAlchemy statement per call (operators,
# bind parameters, the values clause) was a quarter of the bot's CPU in bench/ingest.py.
# They run through `self._run`: on PostgreSQL straight on asyncpg (storage/prepared.py).
_TICKET_BY_ID = select(t.tickets).where(t.tickets.c.id == bindparam("b_id"))
_TICKET_BY_ID_LOCKED = _TICKET_BY_ID.with_for_update()
_INSERT_TICKET = t.tickets.insert()
_UPDATE_TICKET = update(t.tickets).where(
    t.tickets.c.id == bindparam("b_id"), t.tickets.c.clock_token == bindparam("b_token")
)
_INSERT_EVENTS = t.ticket_events.insert()
_NEXT_TICKET_ID = text("SELECT nextval(pg_get_serial_sequence('tickets', 'id'))")
_INSERT_MESSAGE = t.messages.insert().returning(t.messages.c.id)
_MESSAGE_BY_ID = select(t.messages).where(t.messages.c.id == bindparam("b_id"))
_MESSAGE_BY_CLIENT_ID = select(t.messages).where(
    t.messages.c.chat_id == bindparam("b_chat"), t.messages.c.client_id == bindparam("b_client")
)
_MESSAGES_CAUSED_BY = select(t.messages).where(t.messages.c.cause_id == bindparam("b_cause")).order_by(t.messages.c.id)
_SET_MESSAGE_STATUS = update(t.messages).where(t.messages.c.id == bindparam("b_id"))
_CLAIM_HANDLED = (
    update(t.messages)
    .where(t.messages.c.id == bindparam("b_id"), t.messages.c.status != Delivery.HANDLED.value)
    .values(status=Delivery.HANDLED.value, error=None, intent=bindparam("b_intent"))
)
_MARK_SENT = (
    update(t.messages).where(t.messages.c.id.in_(bindparam("b_ids", expanding=True))).values(status="sent", error=None)
)
_DUE_OUTBOUND = (
    select(t.messages)
    .where(t.messages.c.status == Delivery.PENDING.value, t.messages.c.next_attempt_at <= bindparam("b_now"))
    .order_by(t.messages.c.id)
    .limit(bindparam("b_limit"))
)
_FIND_FILTERS = ("chat_id", "reporter", "assignee", "type")


@cache
def _find_query(filters: tuple[str, ...], grids: bool, states: bool, limit: int) -> Select[Any]:
    """`SqlTicketStore.find`'s statement for one shape of filters, built once; values are bound at execution."""
    c = t.tickets.c
    query = select(t.tickets).order_by(c.id.desc()).limit(limit)
    if grids:
        query = query.where(c.grid.in_(bindparam("b_grids", expanding=True)))
    for name in filters:
        query = query.where(c[name] == bindparam(f"b_{name}"))
    if states:
        query = query.where(c.state.in_(bindparam("b_states", expanding=True)))
    return query


class SqlUnitOfWork:
    """One transaction (on an engine from `storage.database.autocommit`, one per statement)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._tx: Any = None

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        try:
            self._tx = await self._conn.begin()
            run = Run(self._conn, await begin_raw(self._conn))
        except BaseException:  # no __aexit__ follows a failed __aenter__: give the connection back
            await self._conn.close()
            self._conn = None
            raise
        self.tickets = SqlTicketStore(self._conn, run)
        self.messages = SqlMessageStore(self._conn, run)
        self.records = SqlRecordStore(self._conn)
        self.channels = SqlChannelStore(self._conn)
        self.accounts = SqlAccountStore(self._conn)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None
        try:
            if exc_type is None:
                await self._tx.commit()
            else:
                await self._tx.rollback()
        finally:
            await self._conn.close()
            self._conn = None


class SqlTicketStore:
    def __init__(self, conn: AsyncConnection, run: Run) -> None:
        self._c = conn
        self._run = run  # the hot statements (on PostgreSQL straight on asyncpg)

    async def next_id(self) -> int:
        if self._c.dialect.name == "postgresql":
            return int(await self._run.scalar(_NEXT_TICKET_ID, {}))
        current = await self._c.execute(select(func.coalesce(func.max(t.tickets.c.id), 0)))
        return int(current.scalar_one()) + 1

    async def get(self, ticket_id: int, *, for_update: bool = False) -> Ticket | None:
        query = _TICKET_BY_ID_LOCKED if for_update else _TICKET_BY_ID
        row = await self._run.first(query, {"b_id": ticket_id})
        return _ticket(row) if row else None

    async def insert(self, ticket: Ticket, next_due_at: datetime | None) -> None:
        await self._run.count(_INSERT_TICKET, {"id": ticket.id, **_ticket_row(ticket, next_due_at)})

    async def update(self, ticket: Ticket, next_due_at: datetime | None, expected_token: int) -> bool:
        row = {"b_id": ticket.id, "b_token": expected_token, **_ticket_row(ticket, next_due_at)}
        return await self._run.count(_UPDATE_TICKET, row) == 1

    async def add_events(self, ticket_id: int, events: Sequence[TicketEvent]) -> None:
        if not events:
            return
        rows = [
            {"ticket_id": ticket_id, "at": e.at, "kind": e.kind, "actor": e.actor, "detail": dict(e.detail)}
            for e in events
        ]
        await self._run.each(_INSERT_EVENTS, rows)

    async def events(self, ticket_id: int) -> list[TicketEvent]:
        query = select(t.ticket_events).where(t.ticket_events.c.ticket_id == ticket_id).order_by(t.ticket_events.c.id)
        rows = (await self._c.execute(query)).mappings().all()
        return [TicketEvent(r["kind"], r["actor"], r["at"], r["detail"]) for r in rows]

    async def due(self, now: datetime, limit: int) -> list[int]:
        query = (
            select(t.tickets.c.id).where(t.tickets.c.next_due_at <= now).order_by(t.tickets.c.next_due_at).limit(limit)
        )
        return [int(i) for i in (await self._c.execute(query)).scalars()]

    async def scheduled(self, until: datetime) -> list[tuple[int, datetime, int]]:
        c = t.tickets.c
        query = select(c.id, c.next_due_at, c.clock_token).where(c.next_due_at.is_not(None), c.next_due_at <= until)
        return [(int(r[0]), r[1], int(r[2])) for r in await self._c.execute(query)]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Tickets by state, and open tickets by the tier they sit at (one indexed scan each)."""
        c = t.tickets.c
        by_state = await self._c.execute(select(c.state, func.count()).group_by(c.state))
        open_states = [s.value for s in (TicketState.REPORTED, TicketState.ACCEPTED)]
        by_tier = await self._c.execute(select(c.tier, func.count()).where(c.state.in_(open_states)).group_by(c.tier))
        return {"tickets": {str(k): int(n) for k, n in by_state}, "tiers": {str(k): int(n) for k, n in by_tier}}

    async def created_between(self, start: datetime, end: datetime, grids: Sequence[str] = ()) -> list[Ticket]:
        c = t.tickets.c
        query = select(t.tickets).where(c.created_at >= start, c.created_at < end).order_by(c.id)
        if grids:
            query = query.where(c.grid.in_(list(grids)))
        return [_ticket(r) for r in (await self._c.execute(query)).mappings()]

    async def events_between(
        self, start: datetime, end: datetime, kinds: Sequence[str]
    ) -> list[tuple[int, TicketEvent]]:
        c = t.ticket_events.c
        query = select(t.ticket_events).where(c.at >= start, c.at < end, c.kind.in_(list(kinds))).order_by(c.id)
        rows = (await self._c.execute(query)).mappings().all()
        return [(int(r["ticket_id"]), TicketEvent(r["kind"], r["actor"], r["at"], r["detail"])) for r in rows]

    async def events_of(self, ticket_ids: Sequence[int]) -> dict[int, list[TicketEvent]]:
        out: dict[int, list[TicketEvent]] = {int(i): [] for i in ticket_ids}
        ids = list(out)
        for chunk in (ids[i : i + 1000] for i in range(0, len(ids), 1000)):
            c = t.ticket_events.c
            query = select(t.ticket_events).where(c.ticket_id.in_(chunk)).order_by(c.id)
            for r in (await self._c.execute(query)).mappings():
                out[int(r["ticket_id"])].append(TicketEvent(r["kind"], r["actor"], r["at"], r["detail"]))
        return out

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
    ) -> list[Ticket]:
        given = dict(zip(_FIND_FILTERS, (chat_id, reporter, assignee, ticket_type), strict=True))
        params: dict[str, Any] = {f"b_{k}": v for k, v in given.items() if v is not None}
        if grids:
            params["b_grids"] = list(grids)
        if states:
            params["b_states"] = [s.value for s in states]
        filters = tuple(k for k, v in given.items() if v is not None)
        query = _find_query(filters, bool(grids), bool(states), limit)
        return [_ticket(r) for r in await self._run.rows(query, params)]

    async def search(self, query: TicketQuery) -> tuple[list[Ticket], int]:
        where = _ticket_filter(query)
        total = (await self._c.execute(select(func.count()).select_from(t.tickets).where(*where))).scalar_one()
        page = select(t.tickets).where(*where).order_by(t.tickets.c.id.desc()).limit(query.limit).offset(query.offset)
        return [_ticket(r) for r in (await self._c.execute(page)).mappings()], int(total)


class SqlRecordStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def check_in(self, person_id: str, day: str, at: datetime, text: str) -> bool:
        return await self._insert_once(t.checkins, {"person_id": person_id, "day": day, "at": at, "text": text[:500]})

    async def checked_in(self, day_from: str, day_to: str) -> list[tuple[str, str]]:
        c = t.checkins.c
        query = select(c.person_id, c.day).where(c.day >= day_from, c.day <= day_to)
        return [(str(r[0]), str(r[1])) for r in await self._c.execute(query)]

    async def claim_job(self, key: str, at: datetime) -> bool:
        return await self._insert_once(t.job_runs, {"key": key, "at": at})

    async def save_bulletin(
        self, kind: str, period: str, scope: str, at: datetime, body: Mapping[str, object], text: str
    ) -> int:
        c = t.bulletins.c
        await self._c.execute(
            t.bulletins.delete().where(c.kind == kind, c.period == period, c.scope == scope)
        )  # regenerating a period replaces it
        values = {"kind": kind, "period": period, "scope": scope, "created_at": at, "body": dict(body), "text": text}
        result = await self._c.execute(t.bulletins.insert().values(**values).returning(c.id))
        return int(result.scalar_one())

    async def bulletins(self, limit: int = 100) -> list[Bulletin]:
        query = select(t.bulletins).order_by(t.bulletins.c.id.desc()).limit(limit)
        return [_bulletin(r) for r in (await self._c.execute(query)).mappings()]

    async def bulletin(self, bulletin_id: int) -> Bulletin | None:
        row = (await self._c.execute(select(t.bulletins).where(t.bulletins.c.id == bulletin_id))).mappings().first()
        return _bulletin(row) if row else None

    async def _insert_once(self, table: Any, values: dict[str, Any]) -> bool:
        """Insert unless the key exists; a savepoint keeps the caller's transaction usable on conflict."""
        try:
            async with self._c.begin_nested():
                await self._c.execute(table.insert().values(**values))
        except IntegrityError:
            return False
        return True


def _bulletin(row: Any) -> Bulletin:
    return Bulletin(
        id=int(row["id"]), kind=row["kind"], period=row["period"], scope=row["scope"],
        created_at=row["created_at"], body=row["body"], text=row["text"],
    )  # fmt: skip


class SqlChannelStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def bind_chat(self, channel: str, external_id: str, chat_id: str) -> None:
        await self._upsert(t.channel_chats, {"channel": channel, "external_id": external_id, "chat_id": chat_id})

    async def chat_of(self, channel: str, external_id: str) -> str | None:
        c = t.channel_chats.c
        row = await self._c.execute(select(c.chat_id).where(c.channel == channel, c.external_id == external_id))
        return row.scalar_one_or_none()

    async def external_chats(self, channel: str, chat_id: str) -> list[str]:
        c = t.channel_chats.c
        rows = await self._c.execute(select(c.external_id).where(c.channel == channel, c.chat_id == chat_id))
        return [str(r) for r in rows.scalars()]

    async def bindings(self) -> list[tuple[str, str, str]]:
        c = t.channel_chats.c
        rows = await self._c.execute(select(c.channel, c.external_id, c.chat_id).order_by(c.chat_id, c.channel))
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    async def link_person(self, channel: str, external_id: str, person_id: str) -> None:
        values = {"channel": channel, "external_id": external_id, "person_id": person_id,
                  "linked_at": datetime.now(UTC)}  # fmt: skip
        # already linked to this person: keep the time it was linked (it decides the preferred channel)
        await self._upsert(t.identities, values, unless_same="person_id")

    async def preferred_channel(self, person_id: str) -> str | None:
        c = t.identities.c
        query = select(c.channel).where(c.person_id == person_id).order_by(c.linked_at.desc()).limit(1)
        return (await self._c.execute(query)).scalar_one_or_none()

    async def person_of(self, channel: str, external_id: str) -> str | None:
        c = t.identities.c
        row = await self._c.execute(select(c.person_id).where(c.channel == channel, c.external_id == external_id))
        return row.scalar_one_or_none()

    async def external_person(self, channel: str, person_id: str) -> str | None:
        c = t.identities.c
        query = select(c.external_id).where(c.channel == channel, c.person_id == person_id).limit(1)
        return (await self._c.execute(query)).scalar_one_or_none()

    async def remember(self, channel: str, external_chat: str, external_id: str, message_id: int) -> None:
        values = {"channel": channel, "external_chat": external_chat, "external_id": external_id,
                  "message_id": message_id}  # fmt: skip
        try:
            async with self._c.begin_nested():
                await self._c.execute(t.channel_messages.insert().values(**values))
        except IntegrityError:
            pass  # already remembered (a platform retry)

    async def message_of(self, channel: str, external_chat: str, external_id: str) -> int | None:
        c = t.channel_messages.c
        query = select(c.message_id).where(
            c.channel == channel, c.external_chat == external_chat, c.external_id == external_id
        )
        found = (await self._c.execute(query)).scalar_one_or_none()
        return int(found) if found is not None else None

    async def external_message(self, channel: str, external_chat: str, message_id: int) -> str | None:
        c = t.channel_messages.c
        query = (
            select(c.external_id)
            .where(c.channel == channel, c.external_chat == external_chat, c.message_id == message_id)
            .limit(1)
        )
        return (await self._c.execute(query)).scalar_one_or_none()

    async def marked(self, channel: str, external_chat: str, prefix: str) -> list[int]:
        c = t.channel_messages.c
        query = (
            select(c.message_id)
            .where(c.channel == channel, c.external_chat == external_chat, c.external_id.startswith(prefix))
            .order_by(c.message_id)
        )
        return [int(i) for i in (await self._c.execute(query)).scalars()]

    async def forget(self, channel: str, external_chat: str, external_id: str) -> None:
        c = t.channel_messages.c
        await self._c.execute(
            t.channel_messages.delete().where(
                c.channel == channel, c.external_chat == external_chat, c.external_id == external_id
            )
        )

    async def open_window(self, channel: str, external_id: str, at: datetime) -> None:
        await self._upsert(
            t.channel_windows, {"channel": channel, "external_id": external_id, "opened_at": at, "used": 0}
        )

    async def _upsert(self, table: Table, values: dict[str, Any], unless_same: str | None = None) -> None:
        """Insert, or update the row with the same (channel, external_id) in one statement: a
        delete-then-insert raced itself when two processes took a platform's retries at once."""
        insert = pg_insert(table) if self._c.dialect.name == "postgresql" else sqlite_insert(table)
        statement = insert.values(**values)
        changes = {k: statement.excluded[k] for k in values if k not in ("channel", "external_id")}
        where = table.c[unless_same] != statement.excluded[unless_same] if unless_same else None
        await self._c.execute(statement.on_conflict_do_update(index_elements=["channel", "external_id"],
                                                              set_=changes, where=where))  # fmt: skip

    async def use_window(self, channel: str, external_id: str, now: datetime, limit: int, span_s: int) -> bool:
        c = t.channel_windows.c
        result = await self._c.execute(
            update(t.channel_windows)
            .where(c.channel == channel, c.external_id == external_id, c.used < limit,
                   c.opened_at > now - timedelta(seconds=span_s))
            .values(used=c.used + 1)
        )  # fmt: skip
        return bool(result.rowcount)


class SqlMessageStore:
    def __init__(self, conn: AsyncConnection, run: Run) -> None:
        self._c = conn
        self._run = run  # the hot statements (on PostgreSQL straight on asyncpg)

    async def add(self, message: NewMessage, now: datetime) -> StoredMessage:
        values = {
            "direction": message.direction.value,
            "channel": message.channel,
            "chat_id": message.chat_id,
            "person_id": message.person_id,
            "sender": message.sender,
            "text": message.text,
            "ticket_id": message.ticket_id,
            "reply_to": message.reply_to,
            "client_id": message.client_id,
            "cause_id": message.cause_id,
            "status": message.status.value,
            "attempts": 0,
            "created_at": now,
            "next_attempt_at": (message.not_before or now) if message.status is Delivery.PENDING else None,
            "attachments": [dict(a) for a in message.attachments],
            "template": message.template,
        }
        try:
            new_id = await self._run.scalar(_INSERT_MESSAGE, values)
        except IntegrityError as exc:
            raise DuplicateMessage(f"{message.chat_id}/{message.client_id}") from exc
        return _message({**values, "id": new_id})

    async def get(self, message_id: int) -> StoredMessage | None:
        row = await self._run.first(_MESSAGE_BY_ID, {"b_id": message_id})
        return _message(row) if row else None

    async def by_client_id(self, chat_id: str, client_id: str) -> StoredMessage | None:
        row = await self._run.first(_MESSAGE_BY_CLIENT_ID, {"b_chat": chat_id, "b_client": client_id})
        return _message(row) if row else None

    async def caused_by(self, cause_id: int) -> list[StoredMessage]:
        return [_message(r) for r in await self._run.rows(_MESSAGES_CAUSED_BY, {"b_cause": cause_id})]

    async def set_status(self, message_id: int, status: Delivery, *, error: str | None = None) -> None:
        await self._run.count(_SET_MESSAGE_STATUS, {"b_id": message_id, "status": status.value, "error": error})

    async def claim_handled(self, message_id: int, intent: str | None) -> bool:
        return await self._run.count(_CLAIM_HANDLED, {"b_id": message_id, "b_intent": intent}) == 1

    async def mark_sent(self, message_ids: Sequence[int]) -> None:
        await self._run.count(_MARK_SENT, {"b_ids": list(message_ids)})

    async def due_outbound(self, now: datetime, limit: int) -> list[StoredMessage]:
        return [_message(r) for r in await self._run.rows(_DUE_OUTBOUND, {"b_now": now, "b_limit": limit})]

    async def record_failure(self, message_id: int, error: str, retry_at: datetime | None) -> None:
        """One failed delivery attempt; no `retry_at` means give up (dead letter)."""
        c = t.messages.c
        status = Delivery.PENDING if retry_at else Delivery.DEAD
        await self._c.execute(
            update(t.messages)
            .where(c.id == message_id)
            .values(status=status.value, error=error, attempts=c.attempts + 1, next_attempt_at=retry_at)
        )

    async def outbox_counts(self) -> dict[str, int]:
        c = t.messages.c
        statuses = [Delivery.PENDING.value, Delivery.DEAD.value]
        rows = await self._c.execute(
            select(c.status, func.count()).where(c.direction == Direction.OUT.value, c.status.in_(statuses))
            .group_by(c.status)
        )  # fmt: skip
        return {str(k): int(n) for k, n in rows}

    async def by_status(self, status: Delivery, limit: int) -> list[tuple[StoredMessage, str | None]]:
        """Outbound rows in a delivery state (dead letters for the admins), newest first, with their last error."""
        c = t.messages.c
        query = select(t.messages).where(c.direction == Direction.OUT.value, c.status == status.value)
        rows = (await self._c.execute(query.order_by(c.id.desc()).limit(limit))).mappings().all()
        return [(_message(r), r["error"]) for r in rows]

    async def retry(self, message_id: int, now: datetime) -> bool:
        """A dead letter goes back to pending with fresh attempts; False if it is not a dead letter."""
        c = t.messages.c
        result = await self._c.execute(
            update(t.messages)
            .where(c.id == message_id, c.status == Delivery.DEAD.value)
            .values(status=Delivery.PENDING.value, attempts=0, next_attempt_at=now)
        )
        return bool(result.rowcount)

    async def chat(self, chat_id: str, after: int, limit: int) -> list[StoredMessage]:
        return await self._many((t.messages.c.chat_id == chat_id) & (t.messages.c.person_id.is_(None)), after, limit)

    async def inbox(self, person_id: str, after: int, limit: int) -> list[StoredMessage]:
        return await self._many(t.messages.c.person_id == person_id, after, limit)

    async def of_ticket(self, ticket_id: int, limit: int) -> list[StoredMessage]:
        """Threaded messages, and the residents' messages that caused them (an inbound report has no ticket yet)."""
        c = t.messages.c
        causes = select(c.cause_id).where(c.ticket_id == ticket_id, c.cause_id.is_not(None))
        return await self._many((c.ticket_id == ticket_id) | c.id.in_(causes), 0, limit)

    async def _many(self, where: Any, after: int, limit: int) -> list[StoredMessage]:
        query = select(t.messages).where(where, t.messages.c.id > after).order_by(t.messages.c.id).limit(limit)
        return [_message(r) for r in (await self._c.execute(query)).mappings()]


def _ticket_filter(q: TicketQuery) -> list[Any]:
    c = t.tickets.c
    where: list[Any] = []
    if q.grids is not None:
        where.append(c.grid.in_(sorted(q.grids)))
    for column, values in ((c.state, [s.value for s in q.states]), (c.type, list(q.types)),
                           (c.tier, [x.value for x in q.tiers]), (c.id, list(q.ids))):  # fmt: skip
        if values:
            where.append(column.in_(values))
    if q.created_from is not None:
        where.append(c.created_at >= q.created_from)
    if q.created_to is not None:
        where.append(c.created_at < q.created_to)
    if q.text.strip():
        like = "%" + q.text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            c.text.like(like, escape="\\") | c.location.like(like, escape="\\") | c.reporter.like(like, escape="\\")
        )
    return where


def policy_to_json(policy: SlaPolicy) -> dict[str, Any]:
    return {
        "name": policy.name,
        "accept_s": policy.accept_s,
        "resolve_s": policy.resolve_s,
        "nag_at": list(policy.nag_at),
        "ladder": [{"tier": s.tier.value, "ack_s": s.ack_s, "repeat": s.repeat} for s in policy.ladder],
        "location_s": policy.location_s,
        "feedback_s": policy.feedback_s,
        "quiet": list(policy.quiet) if policy.quiet else None,
        "working": list(policy.working) if policy.working else None,
    }


def policy_from_json(data: dict[str, Any]) -> SlaPolicy:
    return SlaPolicy(
        name=data["name"],
        accept_s=int(data["accept_s"]),
        resolve_s=int(data["resolve_s"]),
        nag_at=tuple(float(f) for f in data["nag_at"]),
        ladder=tuple(LadderStep(Tier(s["tier"]), int(s["ack_s"]), int(s.get("repeat", 0))) for s in data["ladder"]),
        # snapshots taken before these existed keep the defaults of their time
        location_s=int(data.get("location_s", 0)),
        feedback_s=int(data.get("feedback_s", SlaPolicy.feedback_s)),
        quiet=_pair(data.get("quiet")),
        working=_pair(data.get("working")),
    )


def _pair(value: Any) -> tuple[int, int] | None:
    return (int(value[0]), int(value[1])) if value else None


def _ticket_row(ticket: Ticket, next_due_at: datetime | None) -> dict[str, Any]:
    return {
        "type": ticket.type,
        "state": ticket.state.value,
        "tier": ticket.tier.value,
        "grid": ticket.grid,
        "chat_id": ticket.chat_id,
        "reporter": ticket.reporter,
        "assignee": ticket.assignee,
        "location": ticket.location,
        "text": ticket.text,
        "created_at": ticket.created_at,
        "rating": ticket.rating,
        "urgent": ticket.urgent,
        "policy": policy_to_json(ticket.policy),
        "clock_phase": ticket.clock.phase.value,
        "clock_started_at": ticket.clock.started_at,
        "clock_base_tier": ticket.clock.base_tier.value,
        "clock_step": ticket.clock.step,
        "clock_token": ticket.clock.token,
        "followers": list(ticket.followers),
        "ratings": dict(ticket.ratings),
        "close_reason": ticket.close_reason.value if ticket.close_reason else None,
        "reopens": ticket.reopens,
        "suspension": ticket.suspension,
        "next_due_at": next_due_at if TicketState(ticket.state) in LIVE_STATES else None,
    }


def _ticket(row: Mapping[str, Any]) -> Ticket:
    return Ticket(
        id=int(row["id"]),
        type=row["type"],
        state=TicketState(row["state"]),
        tier=Tier(row["tier"]),
        grid=row["grid"],
        chat_id=row["chat_id"],
        reporter=row["reporter"],
        assignee=row["assignee"],
        location=row["location"],
        text=row["text"],
        created_at=row["created_at"],
        policy=policy_from_json(row["policy"]),
        clock=Clock(
            phase=Phase(row["clock_phase"]),
            started_at=row["clock_started_at"],
            base_tier=Tier(row["clock_base_tier"]),
            step=int(row["clock_step"]),
            token=int(row["clock_token"]),
        ),
        rating=row["rating"],
        urgent=bool(row["urgent"]),
        followers=tuple(row["followers"] or ()),
        ratings={str(k): int(v) for k, v in (row["ratings"] or {}).items()},
        close_reason=CloseReason(row["close_reason"]) if row["close_reason"] else None,
        reopens=int(row["reopens"] or 0),
        suspension=row["suspension"] or "",
    )


def _message(row: Any) -> StoredMessage:
    return StoredMessage(
        id=int(row["id"]),
        direction=Direction(row["direction"]),
        sender=row["sender"],
        text=row["text"],
        created_at=row["created_at"],
        status=Delivery(row["status"]),
        chat_id=row["chat_id"],
        person_id=row["person_id"],
        ticket_id=row["ticket_id"],
        reply_to=row["reply_to"],
        client_id=row["client_id"],
        cause_id=row["cause_id"],
        channel=row["channel"],
        attempts=int(row["attempts"] or 0),
        attachments=tuple(row.get("attachments") or ()),
        template=row.get("template"),
    )
