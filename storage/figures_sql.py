"""The figures' rollups in SQL (the `FigureStore` port): `case_rollups` rows moved by deltas, and what
each case holds in them now (`case_figures`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
from sqlalchemy import and_, bindparam, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import tables as t
from storage.prepared import StatementRunner
from tickets import rollups
from tickets.ports import Held

_R = t.case_rollups
_PK = ("node", "dim", "grain", "period", "key")
_HELD = select(t.case_figures).where(t.case_figures.c.ticket_id == bindparam("b_id"))


def _upsert_adding(dialect: Any) -> Any:
    """INSERT a row of counts, or add them to the row already there."""
    statement = dialect.insert(_R)
    return statement.on_conflict_do_update(
        index_elements=list(_PK), set_={m: _R.c[m] + statement.excluded[m] for m in rollups.METRICS}
    )


def _upsert_held(dialect: Any) -> Any:
    statement = dialect.insert(t.case_figures)
    return statement.on_conflict_do_update(
        index_elements=["ticket_id"], set_={c: statement.excluded[c] for c in ("chain", "snapshot", "facts")}
    )


_MOVE = {"postgresql": _upsert_adding(postgresql), "sqlite": _upsert_adding(sqlite)}
_HOLD = {"postgresql": _upsert_held(postgresql), "sqlite": _upsert_held(sqlite)}


BULK = 500  # rows from which PostgreSQL gets them by COPY into a staging table (a rebuild)
_COLUMNS = (*_PK, *rollups.METRICS)
_ADD_STAGED = (
    f"INSERT INTO case_rollups ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} FROM case_rollups_stage "
    f"ON CONFLICT ({', '.join(_PK)}) DO UPDATE SET "
    + ", ".join(f"{m} = case_rollups.{m} + EXCLUDED.{m}" for m in rollups.METRICS)
)
_HOLD_STAGED = (
    "INSERT INTO case_figures (ticket_id, chain, snapshot, facts) "
    "SELECT ticket_id, chain::json, snapshot::json, facts::json FROM case_figures_stage "
    "ON CONFLICT (ticket_id) DO UPDATE SET chain = EXCLUDED.chain, snapshot = EXCLUDED.snapshot, facts = EXCLUDED.facts"
)


async def _copy_adding(raw: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Many deltas at once: COPY into a temporary table, then one INSERT … ON CONFLICT adding them."""
    await raw.execute("CREATE TEMP TABLE IF NOT EXISTS case_rollups_stage (LIKE case_rollups) ON COMMIT DROP")
    await raw.execute("TRUNCATE case_rollups_stage")
    await raw.copy_records_to_table("case_rollups_stage", records=rows, columns=list(_COLUMNS))
    await raw.execute(_ADD_STAGED)


async def _copy_held(raw: asyncpg.Connection, rows: list[dict[str, Any]]) -> None:
    await raw.execute(
        "CREATE TEMP TABLE IF NOT EXISTS case_figures_stage (ticket_id bigint, chain text, snapshot text, facts text) "
        "ON COMMIT DROP"
    )
    await raw.execute("TRUNCATE case_figures_stage")
    records = [(r["ticket_id"], *(json.dumps(r[c], ensure_ascii=False) for c in ("chain", "snapshot", "facts")))
               for r in rows]  # fmt: skip
    await raw.copy_records_to_table("case_figures_stage", records=records)
    await raw.execute(_HOLD_STAGED)


def _held_row(ticket_id: int, held: Held) -> dict[str, Any]:
    return {"ticket_id": ticket_id, "chain": list(held.chain), "snapshot": held.snapshot.to_json(),
            "facts": held.facts.to_json()}  # fmt: skip


class SqlFigureStore:
    def __init__(self, conn: AsyncConnection, run: StatementRunner) -> None:
        self._c = conn
        self._run = run
        self._dialect = "postgresql" if conn.dialect.name == "postgresql" else "sqlite"

    async def held(self, ticket_id: int) -> Held | None:
        row = await self._run.first(_HELD, {"b_id": ticket_id})
        if row is None:
            return None
        snapshot = rollups.Snapshot.from_json(row["snapshot"])
        return Held(tuple(row["chain"]), snapshot, rollups.Facts.from_json(row["facts"]))

    async def hold(self, ticket_id: int, held: Held) -> None:
        await self._run.count(_HOLD[self._dialect], _held_row(ticket_id, held))

    async def hold_many(self, held: Mapping[int, Held]) -> None:
        rows = [_held_row(i, h) for i, h in sorted(held.items())]
        if self._run.raw is not None and len(rows) >= BULK:
            await _copy_held(self._run.raw, rows)
        elif rows:
            await self._run.each(_HOLD[self._dialect], rows)

    async def move(self, deltas: Mapping[rollups.Key, rollups.Vector]) -> None:
        if not deltas:
            return
        metrics = rollups.METRICS
        rows = [
            (node, dim, grain, period, key, *[vector.get(m, 0) for m in metrics])
            for (grain, period, node, dim, key), vector in sorted(deltas.items())
        ]  # one lock order: no deadlocks
        if self._run.raw is not None and len(rows) >= BULK:
            await _copy_adding(self._run.raw, rows)
        else:
            await self._run.each(_MOVE[self._dialect], [dict(zip(_COLUMNS, row, strict=True)) for row in rows])

    async def sums(
        self,
        nodes: Sequence[str] | None,
        dim: str,
        spans: Sequence[rollups.Span],
        group: str,
        metrics: Sequence[str] = rollups.METRICS,
        keys: Sequence[str] | None = None,
    ) -> dict[str, rollups.Vector]:
        if not spans or (nodes is not None and not nodes) or (keys is not None and not keys):
            return {}
        by = _R.c[group]
        query = select(by, *(func.sum(_R.c[m]).label(m) for m in metrics)).where(
            _R.c.dim == dim,
            or_(*(and_(_R.c.grain == s.grain, _R.c.period >= s.first, _R.c.period <= s.last) for s in spans)),
        )
        if nodes is not None:
            query = query.where(_R.c.node.in_(list(nodes)))
        if keys is not None:
            query = query.where(_R.c.key.in_(list(keys)))
        rows = (await self._c.execute(query.group_by(by))).mappings()
        return {str(r[group]): {m: int(r[m]) for m in metrics if r[m]} for r in rows}

    async def clear(self) -> None:
        await self._c.execute(delete(t.case_figures))
        await self._c.execute(delete(_R))
