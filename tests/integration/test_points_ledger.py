"""The points ledger (积分) on real SQLite and PostgreSQL: kept in the case's own transaction by the
case service, each entry once however often a timeline is derived, the rebuild from the timelines,
balances, monthly sums, and redemptions that never overspend, also when two are recorded at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from escalation.cases import CaseService
from escalation.points import PointsLedger
from storage import tables
from storage.sql import SqlUnitOfWork
from tests.integration.test_engine_outbox import DEMO, Clock, notifier
from tests.unit.factories import FAST, T0
from tickets import transitions
from tickets.model import EventKind, Outcome, Ticket
from tickets.points import STAFF, Balance, Entry, PointsError, PointsPolicy, Rule, redeem

SLOW = replace(FAST, accept_s=3600, resolve_s=86400)


def ledger() -> PointsLedger:
    return PointsLedger(lambda: PointsPolicy(), lambda: DEMO)


async def commit(engine: AsyncEngine, cases: CaseService, outcome: Outcome, before: Ticket | None) -> Ticket:
    async with SqlUnitOfWork(engine) as uow:
        await cases.commit(uow, outcome, before=before, now=outcome.events[-1].at)
    return outcome.ticket


async def run_case(engine: AsyncEngine, cases: CaseService) -> Ticket:
    """张阿姨 reports a leak in yg-1, 李建国 takes it and fixes it within the day, she confirms and rates 5."""
    async with SqlUnitOfWork(engine) as uow:
        tid = await uow.tickets.next_id()
    opened = transitions.open_ticket(
        ticket_id=tid, ticket_type="report_water", grid="yg-1", chat_id="yg-1", reporter="张阿姨",
        assignee="w-yg-1", location="5号楼", text="5号楼漏水", policy=SLOW, now=T0,
    )  # fmt: skip
    t = await commit(engine, cases, opened, None)
    for hour, step in enumerate(
        (
            lambda t, now: transitions.accept(t, "w-yg-1", now),
            lambda t, now: transitions.resolve(t, "w-yg-1", "换了阀门", now),
            lambda t, now: transitions.confirm(t, "张阿姨", now),
            lambda t, now: transitions.rate(t, "张阿姨", 5, now),
        ),
        start=1,
    ):
        t = await commit(engine, cases, step(t, T0 + timedelta(hours=hour)), t)
    return t


async def entries_of(engine: AsyncEngine) -> set[tuple[str, str, str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(tables.points.select())
        return {(r.person, r.scope, r.rule, r.points) for r in rows}


FIXED = {("张阿姨", "yg-1", "report_accepted", 10), ("张阿姨", "yg-1", "fix_confirmed", 2),
         ("张阿姨", "yg-1", "rating_given", 2), ("w-yg-1", "", "closed_on_time", 5)}  # fmt: skip


async def test_the_case_service_keeps_the_ledger_in_the_cases_transaction(engine: AsyncEngine) -> None:
    cases = CaseService(notifier(), Clock(T0), points=ledger())
    ticket = await run_case(engine, cases)
    assert await entries_of(engine) == FIXED
    async with SqlUnitOfWork(engine) as uow:
        resolved = next(e for e in await uow.tickets.events(ticket.id) if e.kind is EventKind.RESOLVED)
        assert resolved.detail["on_time"] is True  # stamped by the escalation layer, kept in the timeline
        assert await uow.points.balance("张阿姨", "yg-1") == Balance(14, 0)
        assert await uow.points.balance("张阿姨", "yg-2") == Balance()  # another chat's 张阿姨 is someone else
        latest = await uow.points.entries("张阿姨", "yg-1", 2)
        assert latest[0].rule is Rule.RATING_GIVEN and len(latest) == 2  # newest first
    with pytest.raises(RuntimeError):  # a change that rolls back leaves no points behind
        async with SqlUnitOfWork(engine) as uow:
            reopened = transitions.reject(ticket, "张阿姨", "还在漏", T0 + timedelta(hours=2))
            await cases.commit(uow, reopened, before=ticket, now=T0 + timedelta(hours=2))
            raise RuntimeError("the handler failed after the commit call")
    assert await entries_of(engine) == FIXED


async def test_entries_count_once_and_the_ledger_is_rebuilt_from_the_timelines(engine: AsyncEngine) -> None:
    await run_case(engine, CaseService(notifier(), Clock(T0), points=ledger()))
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.records.check_in("w-yg-1", "2026-11-20", T0, "报平安")
        assert await ledger().checked_in(uow, "w-yg-1", "yg-1", "2026-11-20", T0) == 1
        assert await ledger().checked_in(uow, "w-yg-1", "yg-1", "2026-11-20", T0) == 0
        again = Entry("张阿姨", "yg-1", Rule.REPORT_ACCEPTED, 99, "#1", "yg-1", T0, 1)
        assert await uow.points.add([again]) == 0  # recorded already: the first entry keeps its points
    recorded = await entries_of(engine)
    assert recorded == {*FIXED, ("w-yg-1", "", "checkin", 1)}
    assert await ledger().rebuild(lambda: SqlUnitOfWork(engine)) == 0  # nothing missing
    async with engine.begin() as conn:
        await conn.execute(delete(tables.points))
    assert await ledger().rebuild(lambda: SqlUnitOfWork(engine)) == 5
    assert await entries_of(engine) == recorded


async def test_balances_monthly_sums_accounts_and_redemptions(engine: AsyncEngine) -> None:
    await run_case(engine, CaseService(notifier(), Clock(T0), points=ledger()))
    month = (T0 - timedelta(days=19), T0 + timedelta(days=10))
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.points.earned_between("张阿姨", "yg-1", *month) == 14
        assert await uow.points.earned_between("张阿姨", "yg-1", T0 + timedelta(days=10), T0 + timedelta(days=40)) == 0
        sums = await uow.points.sums(["yg-1"], *month)
        assert ("yg-1", "w-yg-1", STAFF, "closed_on_time", 5) in sums and len(sums) == 4
        assert await uow.points.sums(["yg-2"], *month) == []
        done = redeem(await uow.points.balance("张阿姨", "yg-1"), "张阿姨", "yg-1", "yg-1", "洗衣粉", 10, T0, "admin")
        assert await uow.points.redeem(done) > 0
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.points.balance("张阿姨", "yg-1") == Balance(14, 10)
        both = await uow.points.balances([("张阿姨", "yg-1"), ("w-yg-1", STAFF), ("nobody", STAFF)])
        assert both == {("张阿姨", "yg-1"): Balance(14, 10), ("w-yg-1", STAFF): Balance(5, 0)}
        assert await uow.points.accounts_in("yg-1") == [("w-yg-1", STAFF), ("张阿姨", "yg-1")]
        kept = await uow.points.redemptions(["yg-1"], *month)
        assert [(r.person, r.item, r.points, r.by) for r in kept] == [("张阿姨", "洗衣粉", 10, "admin")]
        assert await uow.points.redemptions(["yg-2"], *month) == []


async def test_two_redemptions_at_once_never_spend_more_than_the_balance(engine: AsyncEngine) -> None:
    """Each locks the account, reads the balance and writes: the second waits for the first (PostgreSQL's
    advisory lock; SQLite's transactions take the write lock up front) and then sees what is left."""
    await run_case(engine, CaseService(notifier(), Clock(T0), points=ledger()))  # 张阿姨 has 14
    first_read = asyncio.Event()

    async def take(points: int, wait: bool) -> str:
        try:
            async with SqlUnitOfWork(engine) as uow:
                await uow.points.lock("张阿姨", "yg-1")
                balance = await uow.points.balance("张阿姨", "yg-1")
                first_read.set()
                if wait:
                    await asyncio.sleep(0.3)  # hold the lock while the other one tries
                await uow.points.redeem(redeem(balance, "张阿姨", "yg-1", "yg-1", "毛巾", points, T0, "admin"))
            return "done"
        except PointsError:
            return "refused"

    async def second() -> str:
        await first_read.wait()
        return await take(10, False)

    outcomes = await asyncio.gather(take(10, True), second())
    assert outcomes == ["done", "refused"]  # it waited, then read the balance that was left
    async with SqlUnitOfWork(engine) as uow:
        assert await uow.points.balance("张阿姨", "yg-1") == Balance(14, 10)
