"""The escalation engine and the outbox worker on real databases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import OutboxNotifier
from bot.render import Renderer, Templates
from config.directory import load_directory_file
from config.settings import CONFIG
from escalation import planner
from escalation.cases import CaseService, Trigger
from escalation.engine import EscalationEngine
from storage.sql import SqlUnitOfWork
from tests.unit.factories import FAST, T0
from tickets import transitions
from tickets.model import Tier

DEMO = load_directory_file(CONFIG / "grids.demo.yaml")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def notifier() -> OutboxNotifier:
    return OutboxNotifier(Renderer(Templates.load(CONFIG / "templates.yaml"), lambda: DEMO))


def cases(clock: Callable[[], datetime], trigger: Trigger | None = None) -> CaseService:
    return CaseService(notifier(), clock, trigger)


async def open_one(engine: AsyncEngine) -> int:
    async with SqlUnitOfWork(engine) as uow:
        tid = await uow.tickets.next_id()
        outcome = transitions.open_ticket(
            ticket_id=tid, ticket_type="report_water", grid="yg-1", chat_id="yg-1", reporter="张阿姨",
            assignee="w-yg-1", location="5号楼", text="5号楼漏水", policy=FAST, now=T0,
        )  # fmt: skip
        await uow.tickets.insert(outcome.ticket, planner.next_due(outcome.ticket))
    return tid


async def test_engine_fires_persists_and_fences(engine: AsyncEngine) -> None:
    tid = await open_one(engine)
    clock = Clock(T0 + timedelta(seconds=4))
    esc = EscalationEngine(lambda: SqlUnitOfWork(engine), cases(clock), lambda: DEMO, clock)
    assert await esc.fire(tid, token=0) is False  # a stale timer does nothing
    assert await esc.audit() == 1
    assert await esc.audit() == 0  # the same step never fires twice
    async with SqlUnitOfWork(engine) as uow:
        ticket = await uow.tickets.get(tid)
        kinds = [e.kind for e in await uow.tickets.events(tid)]
        inbox = await uow.messages.inbox("o-yangguang", 0, 10)
    assert ticket is not None and ticket.tier is Tier.COMMUNITY
    assert kinds == ["escalated"]  # the nag at 2 s was superseded by the escalation at 4 s
    assert len(inbox) == 1 and "超时" in inbox[0].text


async def test_concurrent_audits_fire_each_step_once(engine: AsyncEngine) -> None:
    tid = await open_one(engine)
    clock = Clock(T0 + timedelta(seconds=5))
    engines = [EscalationEngine(lambda: SqlUnitOfWork(engine), cases(clock), lambda: DEMO, clock) for _ in range(4)]
    await asyncio.gather(*(e.audit() for e in engines), return_exceptions=True)
    async with SqlUnitOfWork(engine) as uow:
        assert [e.kind for e in await uow.tickets.events(tid)] == ["escalated"]
        assert len(await uow.messages.inbox("o-yangguang", 0, 10)) == 1


class Timers:
    def __init__(self) -> None:
        self.armed: dict[int, tuple[datetime, int]] = {}

    def arm(self, ticket_id: int, at: datetime, token: int) -> None:
        self.armed[ticket_id] = (at, token)


async def test_only_steps_due_within_the_horizon_hold_a_timer(engine: AsyncEngine) -> None:
    """FAST's first step is 2 s after T0: armed at T0, not armed an hour before (the horizon is
    10 minutes), armed by the periodic pass once it comes within reach."""
    tid = await open_one(engine)
    clock, timers = Clock(T0 - timedelta(hours=1)), Timers()
    service = cases(clock, timers)
    esc = EscalationEngine(lambda: SqlUnitOfWork(engine), service, lambda: DEMO, clock)
    assert await esc.rearm_all() == 0 and timers.armed == {}
    async with SqlUnitOfWork(engine) as uow:
        ticket = await uow.tickets.get(tid)
    assert ticket is not None
    service.arm(ticket)
    assert timers.armed == {}
    clock.now = T0 - timedelta(minutes=5)
    assert await esc.rearm_all() == 1
    assert timers.armed == {tid: (planner.next_due(ticket), ticket.clock.token)}
