"""The outbox worker on real databases: one delivery per (message, platform), each with its own
attempts, backoff, wait and dead letter; a platform that has a post is never sent it again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.outbox import ChannelError, OutboxNotifier, OutboxWorker, Wait, outbox_counts, outbox_entries, retry_dead
from bot.render import Renderer, Templates
from config.directory import load_directory_file
from config.settings import CONFIG
from storage.sql import SqlUnitOfWork
from tests.unit.factories import T0
from tickets.model import Notice
from tickets.ports import Delivery, Direction, NewMessage, StoredMessage, UnitOfWork
from tickets.texts import Text


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakePlatform:
    """A platform stub: counts every send; fails `failures` times; hangs for one chat; waits once."""

    def __init__(
        self, name: str, failures: int = 0, *, reaches: Callable[[StoredMessage], bool] = lambda m: True,
        hangs_for: str | None = None, wait_until: datetime | None = None, private_lines: bool = False,
    ) -> None:  # fmt: skip
        self.name = name
        self.private_lines = private_lines
        self.failures = failures
        self.sent: list[int] = []
        self.tries = 0
        self._reaches = reaches
        self._hangs_for = hangs_for
        self._wait_until = wait_until

    async def reaches(self, uow: UnitOfWork, message: StoredMessage) -> bool:
        return self._reaches(message)

    async def send(self, message: StoredMessage) -> None:
        self.tries += 1
        await asyncio.sleep(0.002)  # a network round trip: other workers run meanwhile
        if self._wait_until is not None:
            until, self._wait_until = self._wait_until, None
            raise Wait(until, "not yet")
        if message.chat_id == self._hangs_for:
            await asyncio.sleep(3600)
        if self.failures > 0:
            self.failures -= 1
            raise ChannelError(f"{self.name} down")
        self.sent.append(message.id)


def worker(
    engine: AsyncEngine, platforms: list[FakePlatform], clock: Callable[[], datetime], **kw: float
) -> OutboxWorker:
    return OutboxWorker(lambda: SqlUnitOfWork(engine), platforms, clock, **kw)  # type: ignore[arg-type]


async def queue(engine: AsyncEngine, chat_id: str = "yg-1", text: str = "hi") -> int:
    async with SqlUnitOfWork(engine) as uow:
        row = await uow.messages.add(NewMessage(Direction.OUT, "gridbot", text, Delivery.PENDING, chat_id=chat_id), T0)
    return row.id


async def deliveries(engine: AsyncEngine, message_id: int) -> dict[str, tuple[Delivery, int]]:
    async with SqlUnitOfWork(engine) as uow:
        return {d.platform: (d.status, d.attempts) for d in await uow.deliveries.of_message(message_id)}


async def test_retries_with_backoff_then_delivers(engine: AsyncEngine) -> None:
    mid = await queue(engine)
    clock, flaky = Clock(T0), FakePlatform("tg", failures=2)
    out = worker(engine, [flaky], clock)
    assert await out.deliver_due() == 0
    assert await out.deliver_due() == 0  # backing off: not due yet
    clock.now += timedelta(seconds=2)
    assert await out.deliver_due() == 0  # second failure
    clock.now += timedelta(seconds=5)
    assert await out.deliver_due() == 1
    assert await deliveries(engine, mid) == {"tg": (Delivery.SENT, 2)} and flaky.sent == [mid]
    async with SqlUnitOfWork(engine) as uow:
        row = await uow.messages.get(mid)
    assert row is not None and row.status is Delivery.SENT  # in the transcript, off the queue


async def test_one_platform_down_neither_repeats_nor_holds_up_the_other(engine: AsyncEngine) -> None:
    mids = [await queue(engine, text=f"m{i}") for i in range(3)]
    clock = Clock(T0)
    healthy, down = FakePlatform("wecom"), FakePlatform("tg", failures=3)
    out = worker(engine, [healthy, down], clock)
    for _ in range(6):  # three failed attempts on one platform, then it is back
        await out.deliver_due()
        clock.now += timedelta(minutes=5)
    assert healthy.sent == mids  # each once, in order, without waiting for the other platform
    assert down.sent == mids  # each once after the outage, in order
    assert down.tries == 3 + 3  # only the first of the conversation was tried while it was down
    for mid in mids:
        statuses = await deliveries(engine, mid)
        assert {p: s for p, (s, _) in statuses.items()} == {"wecom": Delivery.SENT, "tg": Delivery.SENT}


async def test_dead_letter_per_platform_then_an_admin_retries_it(engine: AsyncEngine) -> None:
    mid = await queue(engine)
    clock = Clock(T0)
    healthy, broken = FakePlatform("wecom"), FakePlatform("tg", failures=99)
    out = worker(engine, [healthy, broken], clock, max_attempts=3)
    for _ in range(4):
        await out.deliver_due()
        clock.now += timedelta(minutes=5)
    assert await deliveries(engine, mid) == {"wecom": (Delivery.SENT, 0), "tg": (Delivery.DEAD, 3)}
    async with SqlUnitOfWork(engine) as uow:
        dead = await outbox_entries(uow, Delivery.DEAD, 10)
        assert [(e.message.id, e.platform, "tg down" in (e.error or "")) for e in dead] == [(mid, "tg", True)]
        assert await outbox_counts(uow) == {"dead": 1}
        assert await retry_dead(uow, mid, clock.now)  # an admin retries it
        assert not await retry_dead(uow, mid, clock.now)  # only dead letters can be retried
    broken.failures = 0
    assert await out.deliver_due() == 1
    assert healthy.sent == [mid] and broken.sent == [mid]  # the healthy platform is not sent it again
    assert await deliveries(engine, mid) == {"wecom": (Delivery.SENT, 0), "tg": (Delivery.SENT, 0)}


async def test_a_wait_spends_no_attempt_and_holds_the_conversation_in_order(engine: AsyncEngine) -> None:
    first, second = await queue(engine, text="a"), await queue(engine, text="b")
    clock = Clock(T0)
    waiting = FakePlatform("wechat", wait_until=T0 + timedelta(seconds=6))
    out = worker(engine, [waiting], clock)
    assert await out.deliver_due() == 0
    clock.now += timedelta(seconds=3)
    assert await out.deliver_due() == 0 and waiting.tries == 1  # neither is due before the wait ends
    clock.now += timedelta(seconds=3)
    assert await out.deliver_due() == 2
    assert waiting.sent == [first, second]
    assert await deliveries(engine, first) == {"wechat": (Delivery.SENT, 0)}


async def test_a_post_no_platform_carries_is_fanned_out_to_none(engine: AsyncEngine) -> None:
    mid = await queue(engine, chat_id="unbound")
    only_bound = FakePlatform("tg", reaches=lambda m: m.chat_id == "yg-1")
    out = worker(engine, [only_bound], Clock(T0))
    assert await out.deliver_due() == 0
    assert await out.deliver_due() == 0
    assert await deliveries(engine, mid) == {} and only_bound.tries == 0
    async with SqlUnitOfWork(engine) as uow:
        row = await uow.messages.get(mid)
        assert row is not None and row.status is Delivery.SENT
        assert await outbox_counts(uow) == {}


async def test_several_processes_send_each_post_to_each_platform_once(engine: AsyncEngine) -> None:
    mids = [await queue(engine, chat_id=f"chat-{i % 7}", text=f"m{i}") for i in range(60)]
    tg, wecom = FakePlatform("tg"), FakePlatform("wecom")
    workers = [worker(engine, [tg, wecom], Clock(T0)) for _ in range(3)]
    for _ in range(3):
        await asyncio.gather(*(w.deliver_due() for w in workers), return_exceptions=True)
    assert sorted(tg.sent) == mids and sorted(wecom.sent) == mids  # every post, none twice


async def test_a_hanging_conversation_is_cut_off_and_holds_up_no_other(engine: AsyncEngine) -> None:
    stuck = [await queue(engine, "yg-1", f"a{i}") for i in range(2)]
    others = [await queue(engine, f"other-{i}") for i in range(5)]
    platform = FakePlatform("tg", hangs_for="yg-1")
    out = worker(engine, [platform], Clock(T0), send_timeout_s=0.3)
    started = asyncio.get_running_loop().time()
    assert await out.deliver_due() == 5
    assert asyncio.get_running_loop().time() - started < 2  # one timeout, not one per row in turn
    assert sorted(platform.sent) == others
    assert await deliveries(engine, stuck[0]) == {"tg": (Delivery.PENDING, 1)}  # backs off
    assert await deliveries(engine, stuck[1]) == {"tg": (Delivery.PENDING, 0)}  # waits behind it, no attempt spent


def test_backoff_is_capped_and_an_outage_of_minutes_is_retried_for_about_an_hour() -> None:
    out = OutboxWorker(lambda: None, [], lambda: T0)  # type: ignore[arg-type, return-value]
    delays = [(out._retry_at(n) - T0).total_seconds() for n in range(1, out.max_attempts)]  # type: ignore[operator]
    assert delays[0] <= 1.5 and max(delays) <= 300 * 1.5
    assert 1800 <= sum(delays) <= 7200
    assert out._retry_at(out.max_attempts) is None


async def test_a_claimed_delivery_is_not_claimed_again_by_a_concurrent_pass(engine: AsyncEngine) -> None:
    """Two processes read the same due row: the one whose claim commits second gets nothing."""
    mid = await queue(engine)
    async with SqlUnitOfWork(engine) as uow:
        await uow.deliveries.fan_out({mid: ["tg"]}, T0)
    lease = T0 + timedelta(seconds=60)

    async def claim() -> list[int]:
        async with SqlUnitOfWork(engine) as uow:
            return [d.id for d in await uow.deliveries.claim_due(T0, lease, 10)]

    async with SqlUnitOfWork(engine) as first:
        taken = await first.deliveries.claim_due(T0, lease, 10)
        second = asyncio.create_task(claim())  # reads the row as due: the first claim is not committed
        await asyncio.sleep(0.3)
    assert len(taken) == 1 and await second == []


async def test_a_private_answer_goes_back_to_its_line_never_into_a_group(engine: AsyncEngine) -> None:
    """An answer on a one-to-one line (routed through the grid's chat) reaches only platforms that
    carry such lines (the Official Account), never a bound Telegram group or WeCom appchat."""
    answer = Notice(Text.STATUS_NONE, chat_id="yg-1", params={"reporter": "微信用户0001#wx1"}, private=True)
    post = Notice(Text.TICKET_ACCEPTED, chat_id="yg-1", ticket_id=1, params={"ticket_id": 1, "actor": "w-yg-1"})
    renderer = Renderer(
        Templates.load(CONFIG / "templates.yaml"), lambda: load_directory_file(CONFIG / "grids.demo.yaml")
    )
    async with SqlUnitOfWork(engine) as uow:
        private, group = await OutboxNotifier(renderer).notify(uow, [answer, post], now=T0)
    assert (private.private, group.private) == (True, False)
    telegram_group, official_account = FakePlatform("tg"), FakePlatform("wechat", private_lines=True)
    assert await worker(engine, [telegram_group, official_account], Clock(T0)).deliver_due() == 3
    assert telegram_group.sent == [group.id] and official_account.sent == [private.id, group.id]
    async with SqlUnitOfWork(engine) as uow:
        assert [m.id for m in await uow.messages.chat("yg-1", 0, 10)] == [group.id]


async def test_a_later_post_never_overtakes_one_that_waits(engine: AsyncEngine) -> None:
    """A post waiting (for the id of the message it answers) holds back the posts after it in its
    conversation on that platform, even those fanned out while it waits; other chats go on."""
    clock = Clock(T0)
    waiting = FakePlatform("tg", wait_until=T0 + timedelta(seconds=5))
    out = worker(engine, [waiting], clock)
    first = await queue(engine, text="已处理，请评价")
    assert await out.deliver_due() == 0  # it waits
    later, elsewhere = await queue(engine, text="已按默认满意办结"), await queue(engine, chat_id="yg-2")
    clock.now += timedelta(seconds=1)
    assert await out.deliver_due() == 1 and waiting.sent == [elsewhere]  # the later one stays behind
    clock.now += timedelta(seconds=5)
    assert await out.deliver_due() == 2
    assert waiting.sent == [elsewhere, first, later]
