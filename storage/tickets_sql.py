"""Tickets and their events in SQL (the `TicketStore` port)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from storage.prepared import StatementRunner
from storage.rows import _find_query, _ticket, _ticket_filter, _ticket_row
from tickets.model import ACTIVE_STATES, EventKind, Ticket, TicketEvent, TicketState
from tickets.ports import DuplicateCase, LiveCount, TicketQuery

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
_FIND_FILTERS = ("chat_id", "reporter", "assignee", "type")
_ACTIVE = sorted(s.value for s in ACTIVE_STATES)


class SqlTicketStore:
    def __init__(self, conn: AsyncConnection, run: StatementRunner) -> None:
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

    async def insert(self, ticket: Ticket, next_due_at: datetime | None, *, due_at: datetime | None = None) -> None:
        try:
            await self._run.count(_INSERT_TICKET, {"id": ticket.id, **_ticket_row(ticket, next_due_at, due_at)})
        except IntegrityError as exc:
            if ticket.external_id is None:
                raise
            raise DuplicateCase(ticket.external_id) from exc  # the city's case, stored by a concurrent request

    async def update(
        self, ticket: Ticket, next_due_at: datetime | None, expected_token: int, *, due_at: datetime | None = None
    ) -> bool:
        row = {"b_id": ticket.id, "b_token": expected_token, **_ticket_row(ticket, next_due_at, due_at)}
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
        return [TicketEvent(EventKind(r["kind"]), r["actor"], r["at"], r["detail"]) for r in rows]

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

    async def live_counts(self, grids: Sequence[str] | None, now: datetime) -> list[LiveCount]:
        c = t.tickets.c
        late = func.sum(case((c.due_at <= now, 1), else_=0))
        query = select(c.grid, c.tier, c.state, func.count(), late).where(c.state.in_(_ACTIVE))
        if grids is not None:
            query = query.where(c.grid.in_(list(grids)))
        rows = await self._c.execute(query.group_by(c.grid, c.tier, c.state))
        return [LiveCount(str(g), str(tier), str(state), int(n), int(o or 0)) for g, tier, state, n, o in rows]

    async def in_hand(self, grids: Sequence[str] | None) -> dict[str, int]:
        c = t.tickets.c
        query = select(c.assignee, func.count()).where(c.state.in_(_ACTIVE), c.assignee.is_not(None))
        if grids is not None:
            query = query.where(c.grid.in_(list(grids)))
        return {str(a): int(n) for a, n in await self._c.execute(query.group_by(c.assignee))}

    async def created_per_grid(self, start: datetime, end: datetime) -> dict[str, int]:
        c = t.tickets.c
        query = select(c.grid, func.count()).where(c.created_at >= start, c.created_at < end).group_by(c.grid)
        return {str(g): int(n) for g, n in await self._c.execute(query)}

    async def closed_per_grid(self, start: datetime, end: datetime) -> dict[str, int]:
        e, c = t.ticket_events.c, t.tickets.c
        closed = select(e.ticket_id).where(e.kind == EventKind.CLOSED.value, e.at >= start, e.at < end).distinct()
        query = select(c.grid, func.count()).where(c.id.in_(closed)).group_by(c.grid)
        return {str(g): int(n) for g, n in await self._c.execute(query)}

    async def carded(self, kind: str, start: datetime, end: datetime, grids: Sequence[str] | None) -> list[Ticket]:
        e, c = t.ticket_events.c, t.tickets.c
        marked = select(e.ticket_id).where(e.kind == kind)
        query = select(t.tickets).where(c.id.in_(marked), c.created_at >= start, c.created_at < end)
        if grids is not None:
            query = query.where(c.grid.in_(list(grids)))
        return [_ticket(r) for r in (await self._c.execute(query.order_by(c.id))).mappings()]

    async def page(self, query: TicketQuery) -> list[Ticket]:
        rows = select(t.tickets).where(*_ticket_filter(query)).order_by(t.tickets.c.id.desc()).limit(query.limit)
        return [_ticket(r) for r in (await self._c.execute(rows)).mappings()]

    async def batch_after(self, after_id: int, limit: int) -> list[Ticket]:
        c = t.tickets.c
        query = select(t.tickets).where(c.id > after_id).order_by(c.id).limit(limit)
        return [_ticket(r) for r in (await self._c.execute(query)).mappings()]

    async def set_due(self, due: Mapping[int, datetime | None]) -> None:
        if due:
            rows = [{"b_id": i, "due_at": at} for i, at in due.items()]
            await self._c.execute(update(t.tickets).where(t.tickets.c.id == bindparam("b_id")), rows)

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
        return [
            (int(r["ticket_id"]), TicketEvent(EventKind(r["kind"]), r["actor"], r["at"], r["detail"])) for r in rows
        ]

    async def events_of(self, ticket_ids: Sequence[int]) -> dict[int, list[TicketEvent]]:
        out: dict[int, list[TicketEvent]] = {int(i): [] for i in ticket_ids}
        ids = list(out)
        for chunk in (ids[i : i + 1000] for i in range(0, len(ids), 1000)):
            c = t.ticket_events.c
            query = select(t.ticket_events).where(c.ticket_id.in_(chunk)).order_by(c.id)
            for r in (await self._c.execute(query)).mappings():
                out[int(r["ticket_id"])].append(TicketEvent(EventKind(r["kind"]), r["actor"], r["at"], r["detail"]))
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
