"""报平安 reminders, the daily digest and the monthly bulletin on real databases: each routine runs
once per period however often it is triggered, and its figures follow the tickets' timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from escalation import planner
from escalation.calendar import LOCAL
from escalation.figures import FigureKeeper
from escalation.routines import Routines, month_bounds, previous_month
from storage.sql import SqlUnitOfWork
from tests.integration.test_engine_outbox import DEMO, Clock, notifier
from tests.unit.factories import FAST
from tickets import transitions
from tickets.model import Ticket


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL).astimezone(UTC)  # type: ignore[misc]


def routines(engine: AsyncEngine, clock: Clock) -> Routines:
    return Routines(lambda: SqlUnitOfWork(engine), notifier(), lambda: DEMO, clock, lambda g, k: k)


async def inbox(engine: AsyncEngine, person: str) -> list[str]:
    async with SqlUnitOfWork(engine) as uow:
        return [m.text for m in await uow.messages.inbox(person, 0, 100)]


async def save(engine: AsyncEngine, ticket: Ticket, events: list[object]) -> None:
    """A case as the case service writes it: the row, its events and its figures' rollups."""
    async with SqlUnitOfWork(engine) as uow:
        await uow.tickets.insert(ticket, planner.next_due(ticket), due_at=planner.overdue_at(ticket))
        await uow.tickets.add_events(ticket.id, events)  # type: ignore[arg-type]
        await FigureKeeper(lambda: DEMO).case_changed(uow, ticket, events)  # type: ignore[arg-type]


async def check_in(engine: AsyncEngine, person: str, day: str, at: datetime) -> bool:
    """报平安 as the handler records it (with the figures' count)."""
    async with SqlUnitOfWork(engine) as uow:
        new = await uow.records.check_in(person, day, at, "报平安")
        if new:
            await FigureKeeper(lambda: DEMO).checked_in(uow, person, day)
        return new


async def test_the_checkin_reminder_reaches_only_the_missing_workers_once(engine: AsyncEngine) -> None:
    clock = Clock(bj(2026, 12, 1, 16, 0))  # a Tuesday
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.records.check_in("w-yg-1", "2026-12-01", clock.now, "报平安")
        assert not await uow.records.check_in("w-yg-1", "2026-12-01", clock.now, "报平安")  # once a day
    r = routines(engine, clock)
    assert await r.remind_checkins() == 7  # 8 demo workers, one checked in
    assert await r.remind_checkins() == 0  # a second trigger (restart, second process) does nothing
    assert await inbox(engine, "w-yg-1") == []
    assert any("报平安提醒" in t for t in await inbox(engine, "w-yg-2"))
    clock.now = bj(2026, 12, 5, 16, 0)  # Saturday: no reminder
    assert await r.remind_checkins() == 0


def case(tid: int, grid: str, at: datetime) -> Ticket:
    return transitions.open_ticket(
        ticket_id=tid, ticket_type="report_water", grid=grid, chat_id=grid, reporter=f"居民{tid}",
        assignee=f"w-{grid}", location="5号楼", text="漏水", policy=FAST, now=at,
    ).ticket  # fmt: skip


async def test_the_monthly_bulletin_counts_completion_on_time_satisfaction_and_activity(engine: AsyncEngine) -> None:
    nov = bj(2026, 11, 10, 10, 0)
    rated = transitions.rate(transitions.resolve(case(1, "yg-1", nov), "w-yg-1", "", nov).ticket, "居民1", 5, nov)
    late = case(2, "yg-1", nov)
    late_closed = transitions.auto_close(transitions.resolve(late, "w-yg-1", "", nov).ticket, nov)
    cancelled = transitions.cancel(case(3, "yg-2", nov), "居民3", nov)
    await save(engine, rated.ticket, [])
    await save(engine, late_closed.ticket, [transitions.TicketEvent("escalated", "system", nov, {"tier": "community"})])
    await save(engine, cancelled.ticket, [])
    await save(engine, case(4, "yg-2", nov), [])  # still open
    await save(engine, case(5, "df-1", nov), [])  # another township
    await save(engine, case(6, "yg-1", bj(2026, 12, 1, 9, 0)), [])  # December: not in November's bulletin
    for day in ("2026-11-02", "2026-11-03"):
        assert await check_in(engine, "w-yg-1", day, nov)
    clock = Clock(bj(2026, 12, 5, 9, 0))
    r = routines(engine, clock)
    ids = await r.monthly_bulletin()
    assert len(ids) == 3 and await r.monthly_bulletin() == []  # district + 2 townships, once
    async with SqlUnitOfWork(engine) as uow:
        kept = {b.scope: b for b in [await uow.records.bulletin(i) for i in ids] if b}
    xingfu = kept["xingfu"].body
    assert (xingfu["created"], xingfu["closed"], xingfu["cancelled"], xingfu["open"]) == (4, 2, 1, 1)
    assert xingfu["completion_rate"] == round(2 / 3, 4)
    assert xingfu["on_time_rate"] == 0.5  # the auto-closed case had an overdue escalation
    assert xingfu["satisfaction"] == {"ratings": 1, "mean": 5.0, "satisfied_rate": 1.0, "default_satisfied": 1}
    assert xingfu["overdue_by_tier"]["community"] == 1
    _, _, workdays = month_bounds("2026-11")
    assert xingfu["worker_activity"]["rate"] == round(2 / (4 * len(workdays)), 4)
    assert kept["shifan"].body["created"] == 5 and kept["heping"].body["created"] == 1
    assert "办结率 66.7%" in kept["xingfu"].text
    assert any("月度通报" in t for t in await inbox(engine, "o-xingfu"))
    assert previous_month(bj(2026, 1, 5, 9, 0).date()) == "2025-12"


async def test_the_daily_digest_tells_each_township_its_overdue_cases(engine: AsyncEngine) -> None:
    start = bj(2026, 12, 1, 9, 0)
    await save(engine, case(1, "yg-1", start), [])  # FAST policy: overdue after 4 s
    await save(engine, case(2, "df-1", start), [])
    clock = Clock(start + timedelta(hours=2))
    r = routines(engine, clock)
    assert await r.daily_digest() == 2 and await r.daily_digest() == 0  # one officer per township, once
    texts = await inbox(engine, "o-xingfu")
    assert texts and "新增 1 件" in texts[0] and "超时在办：grid 1" in texts[0]
