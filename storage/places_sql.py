"""The map's data in SQL (the `PlaceStore` port): last positions, case points, and aggregates over open
and recent cases. Nothing here loads every ticket: counts are GROUP BYs, lists are limited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from tickets.model import ACTIVE_STATES, Tier
from tickets.ports import LiveCase, Position, Recurring

_ACTIVE = sorted(s.value for s in ACTIVE_STATES)


class SqlPlaceStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def _upsert(self, table: Table, key: str, values: dict[str, Any]) -> None:
        dialect = postgresql if self._c.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(**values)
        update = {k: v for k, v in values.items() if k != key}
        await self._c.execute(statement.on_conflict_do_update(index_elements=[key], set_=update))

    async def record_position(self, person_id: str, at: tuple[float, float], now: datetime) -> None:
        await self._upsert(t.positions, "person_id", {"person_id": person_id, "lng": at[0], "lat": at[1], "at": now})

    async def positions(self, since: datetime, people: Sequence[str] | None = None) -> list[Position]:
        c = t.positions.c
        query = select(c.person_id, c.lng, c.lat, c.at).where(c.at >= since)
        if people is not None:
            query = query.where(c.person_id.in_(list(people)))
        rows = await self._c.execute(query.order_by(c.person_id))
        return [Position(str(r[0]), (float(r[1]), float(r[2])), r[3]) for r in rows]

    async def pin_case(self, ticket_id: int, at: tuple[float, float]) -> None:
        await self._upsert(t.case_points, "ticket_id", {"ticket_id": ticket_id, "lng": at[0], "lat": at[1]})

    async def point_of(self, ticket_id: int) -> tuple[float, float] | None:
        c = t.case_points.c
        row = (await self._c.execute(select(c.lng, c.lat).where(c.ticket_id == ticket_id))).first()
        return (float(row[0]), float(row[1])) if row else None

    async def live_cases(self, grids: Sequence[str] | None, limit: int) -> list[LiveCase]:
        c, p = t.tickets.c, t.case_points.c
        query = (
            select(c.id, c.grid, c.type, c.location, c.tier, c.urgent, p.lng, p.lat)
            .select_from(t.tickets.outerjoin(t.case_points, p.ticket_id == c.id))
            .where(c.state.in_(_ACTIVE))
        )
        if grids is not None:
            query = query.where(c.grid.in_(list(grids)))
        rows = await self._c.execute(query.order_by(c.id.desc()).limit(limit))
        return [
            LiveCase(
                int(r[0]),
                r[1],
                r[2],
                r[3],
                Tier(r[4]),
                bool(r[5]),
                (float(r[6]), float(r[7])) if r[6] is not None else None,
            )
            for r in rows
        ]

    async def recurring(
        self, grids: Sequence[str] | None, since: datetime, at_least: int, limit: int = 5000
    ) -> list[Recurring]:
        c = t.tickets.c
        count = func.count()
        query = select(c.grid, c.type, c.location, count, func.max(c.created_at)).where(
            c.created_at >= since, c.location != ""
        )
        if grids is not None:
            query = query.where(c.grid.in_(list(grids)))
        query = query.group_by(c.grid, c.type, c.location)
        if at_least > 1:
            query = query.having(count >= at_least)
        rows = await self._c.execute(query.order_by(count.desc()).limit(limit))
        return [Recurring(str(r[0]), str(r[1]), str(r[2]), int(r[3]), _aware(r[4])) for r in rows]


def _aware(value: Any) -> datetime:
    """func.max loses the column's type decorator on SQLite: a string or a naive datetime comes back."""
    at: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return at if at.tzinfo else at.replace(tzinfo=UTC)
