"""The city platform (12345, 接诉即办) on real databases (SQLite, PostgreSQL): an external id opens one
case however many calls race for it; pushes are queued with their events, sent signed to a real HTTP
server, retried with backoff, given up into dead letters, and sent once with two pushers at work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.city_intake import CityCase, CityIntake
from bot.city_push import CityFeed, CityPusher
from bot.nlu.catalog import load_catalog
from bot.outbox import OutboxNotifier
from bot.render import Renderer, Templates
from config.directory import load_directory_file
from config.policies import load_policies
from config.settings import CONFIG
from escalation.cases import CaseService
from storage import tables as t
from storage.sql import SqlUnitOfWork
from tests.fakes.city_platform import FakeCityPlatform
from tests.inproc import InProcessBot
from tests.unit.factories import T0
from tickets import transitions
from tickets.model import Outcome
from tickets.ports import Delivery

DEMO = load_directory_file(CONFIG / "grids.demo.yaml")
POLICIES = load_policies(CONFIG / "policies" / "default.yaml")
CATALOG = load_catalog(CONFIG / "intents")
SECRET = b"city-shared-secret-0123456789"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RacingIntake(CityIntake):
    """The first `racers` lookups of an external id all answer before any caller goes on to open the
    case: each of them finds the id unknown and opens it (what two platform retries a moment apart do)."""

    def __init__(self, *args: Any, racers: int = 2) -> None:
        super().__init__(*args)
        self._racers = racers
        self._barrier = asyncio.Barrier(racers)
        self.lookups = 0

    async def _known(self, external_id: str) -> int | None:
        self.lookups += 1
        found = await super()._known(external_id)
        if self._racers > 0:
            self._racers -= 1
            await self._barrier.wait()
        return found


@pytest.fixture
def platform() -> Iterator[FakeCityPlatform]:
    platform = FakeCityPlatform().start()
    yield platform
    platform.stop()


def service(clock: Callable[[], datetime], feed: CityFeed | None) -> CaseService:
    renderer = Renderer(Templates.load(CONFIG / "templates.yaml"), lambda: DEMO)
    return CaseService(OutboxNotifier(renderer), clock, feed=feed)


def intake(engine: AsyncEngine, clock: Clock, feed: CityFeed | None = None, cls: type[CityIntake] = CityIntake,
           **kw: Any) -> CityIntake:  # fmt: skip
    return cls(lambda: SqlUnitOfWork(engine), service(clock, feed), lambda: DEMO, lambda: POLICIES, lambda: CATALOG,
               clock, **kw)  # fmt: skip


def case(external_id: str = "BJ12345-1", grid: str = "yg-1") -> CityCase:
    return CityCase(external_id, "report_water", "5号楼地下室漏水", "5号楼", grid, T0 + timedelta(days=2))


async def accept(engine: AsyncEngine, cases: CaseService, ticket_id: int, now: datetime) -> None:
    async with SqlUnitOfWork(engine) as uow:
        ticket = await uow.tickets.get(ticket_id, for_update=True)
        assert ticket is not None
        await cases.commit(uow, transitions.accept(ticket, "w-yg-1", now), before=ticket, now=now)


async def rows(engine: AsyncEngine, table: t.Table) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(table))).mappings())


def pusher(engine: AsyncEngine, client: httpx.AsyncClient, url: str, clock: Clock, **kw: Any) -> CityPusher:
    return CityPusher(lambda: SqlUnitOfWork(engine), client, url, SECRET, clock, **kw)


async def test_two_racing_calls_with_one_external_id_open_one_case(engine: AsyncEngine) -> None:
    clock = Clock()
    racing = intake(engine, clock, CityFeed(), RacingIntake, racers=2)
    first, second = await asyncio.gather(racing.receive(case()), racing.receive(case()))
    assert racing.lookups == 3  # the loser's insert hit the unique external id, and it read the winner's case
    assert first[0] == second[0] and sorted([first[1], second[1]]) == [False, True]
    tickets = await rows(engine, t.tickets)
    assert [(r["id"], r["external_id"]) for r in tickets] == [(first[0], "BJ12345-1")]
    assert [r["kind"] for r in await rows(engine, t.ticket_events)] == ["reported"]
    assert len(await rows(engine, t.city_pushes)) == 1  # the loser's push rolled back with its case
    pings = [r for r in await rows(engine, t.messages) if r["person_id"] == "w-yg-1"]
    assert len(pings) == 1  # the worker was pinged once
    assert await intake(engine, clock).receive(case()) == (first[0], False)


def test_concurrent_posts_of_one_case_over_http_answer_one_ticket_and_never_a_500(db_url: str, tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_DATABASE_URL=db_url)
    try:
        body = {"external_id": "BJ12345-race", "type": "report_water", "text": "5号楼漏水", "grid": "yg-1"}
        for _ in range(3):
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda _: bot.http.post("/cases", json=body), range(8)))
            assert {a.status_code for a in answers} <= {200, 201}, [a.text for a in answers]
            assert len({a.json()["ticket_id"] for a in answers}) == 1
            body["external_id"] += "-again"
        assert len(bot.http.get("/tickets").json()["tickets"]) == 3
    finally:
        bot.close()


async def test_pushes_are_queued_with_their_events_only_when_on_and_in_scope(engine: AsyncEngine) -> None:
    clock = Clock()
    off = intake(engine, clock)  # no feed: pushes off
    ticket_id, _ = await off.receive(case("off-1"))
    await accept(engine, service(clock, None), ticket_id, clock.now)
    assert await rows(engine, t.city_pushes) == []

    resident = transitions.open_ticket(
        ticket_id=ticket_id + 1, ticket_type="report_water", grid="yg-1", chat_id="yg-1", reporter="张阿姨",
        assignee="w-yg-1", location="5号楼", text="5号楼漏水", policy=POLICIES.default, now=clock.now,
    )  # fmt: skip
    for feed, expected in ((CityFeed(), 0), (CityFeed(every_case=True), 1)):
        async with SqlUnitOfWork(engine) as uow:
            opened = replace(resident.ticket, id=await uow.tickets.next_id())
            await service(clock, feed).commit(uow, Outcome(opened, resident.events), before=None, now=clock.now)
        pushed = [r for r in await rows(engine, t.city_pushes) if r["ticket_id"] == opened.id]
        assert len(pushed) == expected
    assert pushed[0]["body"]["external_id"] is None and pushed[0]["body"]["actor"] == "张阿姨"


async def test_a_push_is_signed_retried_with_backoff_in_order_and_given_up(
    engine: AsyncEngine, platform: FakeCityPlatform
) -> None:
    clock = Clock()
    feed = CityFeed()
    city = intake(engine, clock, feed)
    ticket_id, _ = await city.receive(case())
    await accept(engine, service(clock, feed), ticket_id, clock.now)
    platform.fail(1)
    async with httpx.AsyncClient() as client:
        push = pusher(engine, client, platform.url, clock, max_attempts=3)
        assert await push.push_due() == 0  # the first failed; the second waits behind it
        assert len(platform.requests) == 1
        assert await push.push_due() == 0  # backing off: nothing is due
        clock.now += timedelta(seconds=2)  # 1 s × jitter (at most 1.5)
        assert await push.push_due() == 2
        events = platform.events(SECRET)  # each with the case's state right after its event
        assert [(e["event"], e["state"], e["external_id"]) for e in events] == [
            ("reported", "reported", "BJ12345-1"), ("accepted", "accepted", "BJ12345-1")
        ]  # fmt: skip
        stored = {r["id"]: r["kind"] for r in await rows(engine, t.ticket_events)}
        assert [stored[e["id"]] for e in events] == ["reported", "accepted"]  # `id` is the event's

        platform.down()
        ticket_id, _ = await city.receive(case("BJ12345-2"))
        for _ in range(3):
            assert await push.push_due() == 0
            clock.now += timedelta(seconds=10)
        async with SqlUnitOfWork(engine) as uow:
            (dead,) = await uow.city.by_status(Delivery.DEAD, 10)
            assert (dead.ticket_id, dead.attempts, dead.body["event"]) == (ticket_id, 3, "reported")
            assert "503" in (dead.error or "") and await uow.city.counts() == {"dead": 1}
        assert await push.push_due() == 0  # a dead letter is not sent again
        platform.up()
        async with SqlUnitOfWork(engine) as uow:
            assert await uow.city.retry(dead.id) and not await uow.city.retry(dead.id)
        assert await push.push_due() == 1
        assert platform.events(SECRET)[-1]["external_id"] == "BJ12345-2"


async def test_the_backoff_is_capped_at_five_minutes(engine: AsyncEngine, platform: FakeCityPlatform) -> None:
    clock = Clock()
    await intake(engine, clock, CityFeed()).receive(case())
    platform.down()
    async with httpx.AsyncClient() as client:
        assert await pusher(engine, client, platform.url, clock, base_delay_s=3600).push_due() == 0
    (push,) = await rows(engine, t.city_pushes)
    assert push["status"] == "pending" and push["next_attempt_at"] <= clock.now + timedelta(minutes=5)


async def test_a_platform_that_does_not_answer_costs_a_timeout_not_a_hang(
    engine: AsyncEngine, platform: FakeCityPlatform
) -> None:
    clock = Clock()
    await intake(engine, clock, CityFeed()).receive(case())
    platform.hang_s = 3
    async with httpx.AsyncClient() as client:
        started = time.monotonic()
        assert await pusher(engine, client, platform.url, clock, timeout_s=0.3).push_due() == 0
        assert time.monotonic() - started < 2
    (push,) = await rows(engine, t.city_pushes)
    assert (push["status"], push["attempts"]) == ("pending", 1) and "Timeout" in push["error"]


async def test_two_pushers_send_each_event_once_and_each_case_in_order(
    engine: AsyncEngine, platform: FakeCityPlatform
) -> None:
    clock = Clock()
    feed = CityFeed()
    city, cases = intake(engine, clock, feed), service(clock, feed)
    for n in range(12):
        ticket_id, _ = await city.receive(case(f"BJ-{n}", grid=("yg-1", "yg-2")[n % 2]))
        await accept(engine, cases, ticket_id, clock.now)
    platform.hang_s = 0.01  # each POST takes a moment: the two pushers' passes overlap
    async with httpx.AsyncClient() as one, httpx.AsyncClient() as two:
        pushers = [pusher(engine, one, platform.url, clock), pusher(engine, two, platform.url, clock)]
        for _ in range(20):
            await asyncio.gather(*(p.push_due(limit=5) for p in pushers))
            async with SqlUnitOfWork(engine) as uow:
                if not await uow.city.counts():
                    break
    events = platform.events(SECRET)
    assert len(platform.requests) == len(events) == 24
    assert sorted(e["id"] for e in events) == sorted(r["id"] for r in await rows(engine, t.ticket_events))
    for ticket_id in {e["ticket_id"] for e in events}:
        assert [e["event"] for e in events if e["ticket_id"] == ticket_id] == ["reported", "accepted"]
