"""The escalation engine and the outbox worker on real databases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import ChannelError, MirrorChannel, OutboxNotifier, OutboxWorker, WebChannel
from bot.render import Renderer, Templates
from config.directory import load_directory_file
from config.settings import CONFIG
from escalation import planner
from escalation.cases import CaseService, Trigger
from escalation.engine import EscalationEngine
from storage.sql import SqlUnitOfWork
from tests.unit.factories import FAST, T0
from tickets import transitions
from tickets.model import Notice, Tier
from tickets.ports import Delivery, Direction, NewMessage, StoredMessage
from tickets.texts import Text

DEMO = load_directory_file(CONFIG / "grids.demo.yaml")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def notifier() -> OutboxNotifier:
    return OutboxNotifier(Renderer(Templates.load(CONFIG / "templates.yaml"), lambda: DEMO), lambda c, p: "web")


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


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[int] = []

    async def send(self, message: StoredMessage) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ChannelError("platform down")
        self.sent.append(message.id)


async def queue(engine: AsyncEngine, channel: str) -> int:
    async with SqlUnitOfWork(engine) as uow:
        row = await uow.messages.add(
            NewMessage(Direction.OUT, "gridbot", "hi", Delivery.PENDING, chat_id="yg-1", channel=channel), T0
        )
    return row.id


async def test_outbox_retries_with_backoff_then_delivers(engine: AsyncEngine) -> None:
    mid = await queue(engine, "flaky")
    clock, flaky = Clock(T0), Flaky(failures=2)
    worker = OutboxWorker(lambda: SqlUnitOfWork(engine), {"flaky": flaky, "web": WebChannel()}, clock)
    assert await worker.deliver_due() == 0
    assert await worker.deliver_due() == 0  # backing off: not due yet
    clock.now += timedelta(seconds=2)
    assert await worker.deliver_due() == 0  # second failure
    clock.now += timedelta(seconds=5)
    assert await worker.deliver_due() == 1
    async with SqlUnitOfWork(engine) as uow:
        row = await uow.messages.get(mid)
    assert row is not None and row.status is Delivery.SENT and row.attempts == 2 and flaky.sent == [mid]


async def test_outbox_dead_letters_after_max_attempts(engine: AsyncEngine) -> None:
    mid = await queue(engine, "flaky")
    clock = Clock(T0)
    worker = OutboxWorker(lambda: SqlUnitOfWork(engine), {"flaky": Flaky(failures=99)}, clock, max_attempts=3)
    for _ in range(3):
        await worker.deliver_due()
        clock.now += timedelta(minutes=5)
    async with SqlUnitOfWork(engine) as uow:
        row = await uow.messages.get(mid)
    assert row is not None and row.status is Delivery.DEAD and row.attempts == 3
    async with SqlUnitOfWork(engine) as uow:
        dead = await uow.messages.by_status(Delivery.DEAD, 10)
        assert [(m.id, "platform down" in (error or "")) for m, error in dead] == [(mid, True)]
        assert await uow.messages.retry(mid, clock.now)  # an admin retries it
        assert not await uow.messages.retry(mid, clock.now)  # only dead letters can be retried
    healed = OutboxWorker(lambda: SqlUnitOfWork(engine), {"flaky": Flaky(failures=0)}, clock, max_attempts=3)
    assert await healed.deliver_due() == 1
    async with SqlUnitOfWork(engine) as uow:
        row = await uow.messages.get(mid)
        assert row is not None and row.status is Delivery.SENT and row.attempts == 0
        assert await uow.messages.by_status(Delivery.DEAD, 10) == []


class Hanging:
    """A platform whose API never answers for one chat (the caller's timeout must cut it off)."""

    def __init__(self, hangs_for: str) -> None:
        self.hangs_for = hangs_for
        self.sent: list[int] = []

    async def send(self, message: StoredMessage) -> None:
        if message.chat_id == self.hangs_for:
            await asyncio.sleep(3600)
        self.sent.append(message.id)


async def queue_in(engine: AsyncEngine, channel: str, chat_id: str, text: str = "hi") -> int:
    async with SqlUnitOfWork(engine) as uow:
        row = await uow.messages.add(
            NewMessage(Direction.OUT, "gridbot", text, Delivery.PENDING, chat_id=chat_id, channel=channel), T0
        )
    return row.id


async def test_a_hanging_conversation_is_cut_off_and_holds_up_no_other(engine: AsyncEngine) -> None:
    stuck = [await queue_in(engine, "tg", "yg-1", f"a{i}") for i in range(2)]
    others = [await queue_in(engine, "tg", f"other-{i}") for i in range(5)]
    channel = Hanging("yg-1")
    worker = OutboxWorker(lambda: SqlUnitOfWork(engine), {"tg": channel}, Clock(T0), send_timeout_s=0.3)
    started = asyncio.get_running_loop().time()
    assert await worker.deliver_due() == 5
    assert asyncio.get_running_loop().time() - started < 2  # one timeout, not one per row in turn
    assert sorted(channel.sent) == others
    async with SqlUnitOfWork(engine) as uow:
        first, second = [await uow.messages.get(i) for i in stuck]
    assert first is not None and first.status is Delivery.PENDING and first.attempts == 1  # backs off
    assert second is not None and second.attempts == 0  # waits behind it, no attempt spent


class Recording:
    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send(self, message: StoredMessage) -> None:
        self.sent.append(message.id)


async def test_a_private_answer_goes_back_to_its_line_never_into_a_group_mirror(engine: AsyncEngine) -> None:
    answer = Notice(Text.STATUS_NONE, chat_id="yg-1", params={"reporter": "微信用户0001#wx1"}, private=True)
    post = Notice(Text.TICKET_ACCEPTED, chat_id="yg-1", ticket_id=1, params={"ticket_id": 1, "actor": "w-yg-1"})
    async with SqlUnitOfWork(engine) as uow:
        private, group = await notifier().notify(uow, [answer, post], now=T0)
    assert (private.private, group.private) == (True, False)
    telegram_group, official_account = Recording(), Recording()
    web = MirrorChannel(WebChannel(), [telegram_group, official_account], private_lines=[official_account])
    assert await OutboxWorker(lambda: SqlUnitOfWork(engine), {"web": web}, Clock(T0)).deliver_due() == 2
    assert telegram_group.sent == [group.id] and official_account.sent == [private.id, group.id]
    async with SqlUnitOfWork(engine) as uow:
        assert [m.id for m in await uow.messages.chat("yg-1", 0, 10)] == [group.id]
        assert (await uow.messages.get(private.id)).private  # type: ignore[union-attr]


def test_backoff_is_capped_and_an_outage_of_minutes_is_retried_for_about_an_hour() -> None:
    worker = OutboxWorker(lambda: None, {}, lambda: T0)  # type: ignore[arg-type, return-value]
    delays = [(worker._retry_at(n) - T0).total_seconds() for n in range(1, worker.max_attempts)]  # type: ignore[operator]
    assert delays[0] <= 1.5 and max(delays) <= 300 * 1.5
    assert 1800 <= sum(delays) <= 7200
    assert worker._retry_at(worker.max_attempts) is None


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
