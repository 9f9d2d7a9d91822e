"""The figures' rollups in SQL (the `FigureStore` port): `case_rollups` rows moved by deltas, and what
each case holds in them now (`case_figures`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
        row = {"ticket_id": ticket_id, "chain": list(held.chain), "snapshot": held.snapshot.to_json(),
               "facts": held.facts.to_json()}  # fmt: skip
        await self._run.count(_HOLD[self._dialect], row)

    async def move(self, deltas: Mapping[rollups.Key, rollups.Vector]) -> None:
        if not deltas:
            return
        rows = [
            {**dict(zip(_PK, (node, dim, grain, period, key), strict=True)),
             **{m: vector.get(m, 0) for m in rollups.METRICS}}
            for (grain, period, node, dim, key), vector in sorted(deltas.items())  # one lock order: no deadlocks
        ]  # fmt: skip
        await self._run.each(_MOVE[self._dialect], rows)

    async def sums(
        self, nodes: Sequence[str] | None, dim: str, spans: Sequence[rollups.Span], group: str
    ) -> dict[str, rollups.Vector]:
        if not spans or (nodes is not None and not nodes):
            return {}
        by = _R.c[group]
        query = select(by, *(func.sum(_R.c[m]).label(m) for m in rollups.METRICS)).where(
            _R.c.dim == dim,
            or_(*(and_(_R.c.grain == s.grain, _R.c.period >= s.first, _R.c.period <= s.last) for s in spans)),
        )
        if nodes is not None:
            query = query.where(_R.c.node.in_(list(nodes)))
        rows = (await self._c.execute(query.group_by(by))).mappings()
        return {str(r[group]): {m: int(r[m]) for m in rollups.METRICS if r[m]} for r in rows}

    async def clear(self) -> None:
        await self._c.execute(delete(t.case_figures))
        await self._c.execute(delete(_R))
