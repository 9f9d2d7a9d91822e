"""Check-ins, job claims and bulletins in SQL (the `RecordStore` port)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from storage.rows import _bulletin
from tickets.ports import Bulletin


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
