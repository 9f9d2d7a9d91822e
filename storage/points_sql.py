"""The points ledger and the 平安超市's redemptions in SQL (the `PointStore` port of `tickets.points`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, tuple_, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from tickets.points import Balance, Entry, Redemption, Rule

BATCH = 500  # rows per INSERT (SQLite binds at most 32,766 values)


class SqlPointStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def add(self, entries: Sequence[Entry]) -> int:
        rows = [{"person": e.person, "scope": e.scope, "rule": e.rule.value, "ref": e.ref, "points": e.points,
                 "grid": e.grid, "ticket_id": e.ticket_id, "at": e.at} for e in entries]  # fmt: skip
        dialect = postgresql if self._c.dialect.name == "postgresql" else sqlite
        added = 0
        for start in range(0, len(rows), BATCH):
            insert = dialect.insert(t.points).values(rows[start : start + BATCH])
            done = await self._c.execute(
                insert.on_conflict_do_nothing(index_elements=["person", "scope", "rule", "ref"])
            )
            added += max(done.rowcount, 0)
        return added

    async def balance(self, person: str, scope: str) -> Balance:
        return (await self.balances([(person, scope)])).get((person, scope), Balance())

    async def balances(self, accounts: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Balance]:
        if not accounts:
            return {}
        earned = await self._totals(t.points, accounts)
        redeemed = await self._totals(t.point_redemptions, accounts)
        return {a: Balance(earned.get(a, 0), redeemed.get(a, 0)) for a in {*earned, *redeemed}}

    async def _totals(self, table: Any, accounts: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        c = table.c
        out: dict[tuple[str, str], int] = {}
        for start in range(0, len(accounts), BATCH):
            wanted = list(accounts[start : start + BATCH])
            query = (
                select(c.person, c.scope, func.sum(c.points))
                .where(tuple_(c.person, c.scope).in_(wanted))
                .group_by(c.person, c.scope)
            )
            out.update({(str(p), str(s)): int(n or 0) for p, s, n in await self._c.execute(query)})
        return out

    async def entries(self, person: str, scope: str, limit: int) -> list[Entry]:
        c = t.points.c
        query = (
            select(t.points).where(c.person == person, c.scope == scope).order_by(c.at.desc(), c.id.desc()).limit(limit)
        )
        return [_entry(r) for r in (await self._c.execute(query)).mappings()]

    async def earned_between(self, person: str, scope: str, start: datetime, end: datetime) -> int:
        c = t.points.c
        query = select(func.sum(c.points)).where(c.person == person, c.scope == scope, c.at >= start, c.at < end)
        return int((await self._c.execute(query)).scalar() or 0)

    async def sums(
        self, grids: Sequence[str] | None, start: datetime, end: datetime
    ) -> list[tuple[str, str, str, str, int]]:
        c = t.points.c
        query = (
            select(c.grid, c.person, c.scope, c.rule, func.sum(c.points))
            .where(c.at >= start, c.at < end)
            .group_by(c.grid, c.person, c.scope, c.rule)
        )
        if grids is not None:
            query = query.where(c.grid.in_(list(grids)))
        return [(str(g), str(p), str(s), str(r), int(n or 0)) for g, p, s, r, n in await self._c.execute(query)]

    async def accounts_in(self, grid: str) -> list[tuple[str, str]]:
        p, r = t.points.c, t.point_redemptions.c
        query = union(select(p.person, p.scope).where(p.grid == grid), select(r.person, r.scope).where(r.grid == grid))
        return sorted((str(a), str(b)) for a, b in await self._c.execute(query))

    async def lock(self, person: str, scope: str) -> None:
        """On PostgreSQL a transaction-level advisory lock on the account (released at commit or
        rollback); on SQLite every transaction takes the write lock up front (`BEGIN IMMEDIATE`)."""
        if self._c.dialect.name != "postgresql":
            return
        digest = hashlib.blake2b(f"points\0{person}\0{scope}".encode(), digest_size=8).digest()
        key = int.from_bytes(digest, "big", signed=True)
        await self._c.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    async def redeem(self, redemption: Redemption) -> int:
        r = redemption
        values = {"person": r.person, "scope": r.scope, "grid": r.grid, "item": r.item, "points": r.points,
                  "at": r.at, "recorded_by": r.by}  # fmt: skip
        done = await self._c.execute(t.point_redemptions.insert().values(values).returning(t.point_redemptions.c.id))
        return int(done.scalar_one())

    async def redemptions(
        self, grids: Sequence[str] | None, start: datetime, end: datetime, limit: int = 500
    ) -> list[Redemption]:
        c = t.point_redemptions.c
        query = select(t.point_redemptions).where(c.at >= start, c.at < end).order_by(c.id.desc()).limit(limit)
        if grids is not None:
            query = query.where(c.grid.in_(list(grids)))
        return [
            Redemption(m["person"], m["scope"], m["grid"], m["item"], m["points"], m["at"], m["recorded_by"], m["id"])
            for m in (await self._c.execute(query)).mappings()
        ]


def _entry(m: Any) -> Entry:
    return Entry(m["person"], m["scope"], Rule(m["rule"]), m["points"], m["ref"], m["grid"], m["at"], m["ticket_id"])
