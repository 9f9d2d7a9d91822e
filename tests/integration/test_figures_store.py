"""The figures' rollups on real databases (SQLite and PostgreSQL): the rows the case changes leave are
the rows the in-memory arithmetic gives, and `figures rebuild` gives them again from the timelines."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dispatcher import is_conflict
from escalation import figures
from escalation.planner import next_due, overdue_at
from storage import figures_sql
from storage.sql import SqlUnitOfWork
from tests.unit.test_rollups import Rows, _directory, _history
from tickets import rollups
from tickets.model import TicketState, Tier

QUERIES = [
    (None, "", "node"), (["*"], "", "period"), (["*", "t"], "type", "key"), (["t"], "tier", "key"),
    (["*"], "department", "key"), (["*"], "closed", "period"), ([""], "person", "key"), (["g1", "gx"], "", "node"),
]  # fmt: skip
SPANS = [rollups.spans(date(2026, 1, 1), date(2026, 6, 30)), rollups.spans(date(2026, 1, 20), date(2026, 3, 3))]


async def _stored(engine: AsyncEngine) -> dict[tuple[int, int], dict[str, rollups.Vector]]:
    out = {}
    async with SqlUnitOfWork(engine) as uow:
        for q, (nodes, dim, group) in enumerate(QUERIES):
            for s, spans in enumerate(SPANS):
                out[(q, s)] = await uow.figures.sums(nodes, dim, spans, group)
    return out


def _diff(got: dict, want: dict) -> dict:  # type: ignore[type-arg]
    """(query, spans, group key, metric) → (stored, expected) where they differ."""
    out = {}
    for q in want:
        for k in got[q].keys() | want[q].keys():
            a, b = got[q].get(k, {}), want[q].get(k, {})
            out.update(
                {(q, k, m): (a.get(m, 0), b.get(m, 0)) for m in a.keys() | b.keys() if a.get(m, 0) != b.get(m, 0)}
            )
    return out


@pytest.mark.parametrize("bulk", [1, 100_000])  # PostgreSQL: every write through COPY staging, or none
async def test_case_changes_and_a_rebuild_leave_the_same_rows(
    engine: AsyncEngine, bulk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(figures_sql, "BULK", bulk)
    d = _directory()
    history = _history(11, 80)
    keeper = figures.FigureKeeper(lambda: d)
    memory = Rows(d)
    for ticket, events in history:
        first = replace(ticket, state=TicketState.REPORTED, ratings={}, close_reason=None, reopens=0, dispatch=None)
        steps = [(first, events[:1]), (replace(first, tier=Tier.COMMUNITY), events[1:2]), (ticket, events[2:])]
        for i, (version, new) in enumerate(steps):
            async with SqlUnitOfWork(engine) as uow:
                if i == 0:
                    await uow.tickets.insert(version, next_due(version), due_at=overdue_at(version))
                else:
                    await uow.tickets.update(
                        version, next_due(version), version.clock.token, due_at=overdue_at(version)
                    )
                await uow.tickets.add_events(version.id, new)
                await keeper.case_changed(uow, version, new)
            memory.change(version, new)
    expected = {
        (q, s): rollups.sums(memory.rows, nodes, dim, spans, group)
        for q, (nodes, dim, group) in enumerate(QUERIES)
        for s, spans in enumerate(SPANS)
    }
    assert any(v for v in expected.values())
    assert _diff(await _stored(engine), expected) == {}
    async with SqlUnitOfWork(engine) as uow:
        assert await figures.rebuild(uow, d, batch=7, flush_at=50) == len(history)  # several flushes
    assert _diff(await _stored(engine), expected) == {}
    async with SqlUnitOfWork(engine) as uow:
        held = await uow.figures.held(history[0][0].id)
    assert held is not None and held.snapshot == rollups.Snapshot.of(history[0][0])


async def test_a_deadlock_over_rollup_rows_is_a_conflict_to_retry(engine: AsyncEngine) -> None:
    """Two transactions taking the same rollup rows in opposite orders: PostgreSQL aborts one with a
    deadlock, which the dispatcher recognises (`is_conflict`) and retries instead of failing the message."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: no deadlock")
    a = {("d", "2026-12-01", "*", "", ""): {"created": 1}}
    b = {("d", "2026-12-02", "*", "", ""): {"created": 1}}
    first, second = SqlUnitOfWork(engine), SqlUnitOfWork(engine)
    one, two = await first.__aenter__(), await second.__aenter__()
    await one.figures.move(a)
    await two.figures.move(b)
    results = await asyncio.gather(one.figures.move(b), two.figures.move(a), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and is_conflict(failed[0]) and not is_conflict(ValueError("x"))
    for uow, result in ((first, results[0]), (second, results[1])):
        await uow.__aexit__(type(result) if isinstance(result, BaseException) else None, None, None)
