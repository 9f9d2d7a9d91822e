"""The outbox: notices become message rows in the caller's transaction; a worker delivers them.

A row is written in the same transaction as the state change that caused it, so a crash
can never lose a message nor send one for a change that rolled back.

Delivery is per platform (DESIGN.md "One delivery per platform"). The stored row is what our web
chat shows, so the web needs no delivery. A pass first fans each due message out: one delivery
row per platform that must carry it (`Platform.reaches`: a bound group, a linked person …), in
one commit that also takes the message off the queue, so a message is fanned out once. Then the
due deliveries are claimed (a lease, so two processes never send the same one) and sent, each
marked sent in its own commit right after its platform accepted it: a platform that has a post
is not sent it again, and one platform's outage never holds up or repeats another's posts.

Each delivery retries with exponential backoff (capped at `max_delay_s`) and jitter and gives up
into a dead letter after `max_attempts` (by default 20, about an hour: a platform outage of
minutes loses nothing, bench/faults.py channel; an admin can retry a dead letter). A platform
that must wait (the WeChat passive reply, the Telegram id of the message a post answers) raises
`Wait`: the delivery is postponed without spending an attempt.

In a pass, the due deliveries of one conversation on one platform go out in order and stop at
the first failure or wait (the rest are postponed with it); conversations go out concurrently
(`concurrency`), and each send is cut off after `send_timeout_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from bot.messages import BOT_SENDER
from bot.render import Renderer
from tickets.model import Notice
from tickets.ports import Delivery, Direction, NewMessage, PlatformDelivery, StoredMessage, UnitOfWork

log = logging.getLogger(__name__)

TRANSCRIPT = "web"  # the channel of every outbound row: our own transcript, which the web chat shows


class OutboxNotifier:
    """The core's `Notifier` port: render each notice and store it as a pending outbound row.
    An outbound row's `channel` is `web`, our transcript, which records it; the platforms it goes
    to are its deliveries."""

    def __init__(self, renderer: Renderer) -> None:
        self._renderer = renderer

    async def notify(
        self, uow: UnitOfWork, notices: Sequence[Notice], *, now: datetime, cause_id: int | None = None
    ) -> list[StoredMessage]:
        written = []
        for notice in notices:
            message = NewMessage(
                direction=Direction.OUT,
                sender=BOT_SENDER,
                text=self._renderer.notice(notice),
                status=Delivery.PENDING,
                chat_id=notice.chat_id,
                person_id=notice.person_id,
                ticket_id=notice.ticket_id,
                reply_to=cause_id if notice.chat_id else None,  # threads the bot's answer in the group
                cause_id=cause_id,
                channel=TRANSCRIPT,
                not_before=notice.not_before,
                template=notice.template,
                private=notice.private and notice.chat_id is not None,
                attachments=notice.attachments,
            )
            written.append(await uow.messages.add(message, now))
        return written


class ChannelError(Exception):
    """A platform could not deliver; the delivery is retried later (an attempt is spent)."""


class Wait(Exception):
    """A platform cannot send this yet: try again at `until`, without spending an attempt."""

    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until


class Platform(Protocol):
    """A chat platform's outbound side (Telegram, WeChat, WeCom)."""

    @property
    def name(self) -> str: ...

    @property
    def private_lines(self) -> bool:
        """Whether it carries one-to-one lines (the Official Account): a private row (an answer on a
        one-to-one line, routed through the grid's chat) goes only to such platforms, never into a
        bound group."""
        ...

    async def reaches(self, uow: UnitOfWork, message: StoredMessage) -> bool:
        """Whether this post goes to this platform at all (database reads only, no network)."""
        ...

    async def send(self, message: StoredMessage) -> None:
        """Deliver, or raise `ChannelError` (retry) or `Wait`; a refusal for good is logged and returns."""
        ...


@runtime_checkable
class FileSender(Protocol):
    """A platform that also carries files (Telegram, WeCom): it sends the post with the file."""

    async def send_file(self, message: StoredMessage, name: str, data: bytes) -> None:
        """Deliver the post and the file `name` (`data`), or raise as `Platform.send` does."""
        ...


Files = Callable[[Mapping[str, object]], Awaitable[tuple[str, bytes] | None]]  # a file attachment → (name, bytes)


def file_of(message: StoredMessage) -> Mapping[str, object] | None:
    return next((a for a in message.attachments if a.get("kind") == "file"), None)


_Conversation = tuple[str, str | None, str | None]


class OutboxWorker:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        platforms: Sequence[Platform],
        now: Callable[[], datetime],
        max_attempts: int = 20,
        base_delay_s: float = 1.0,
        on_attempt: Callable[[bool], None] = lambda ok: None,
        *,
        max_delay_s: float = 300.0,
        send_timeout_s: float = 30.0,
        concurrency: int = 16,
        wake: asyncio.Event | None = None,
        files: Files | None = None,
    ) -> None:
        self._uow = uow
        self._files = files  # the bytes of a post's file (the monthly bulletin's PDF), for platforms that carry files
        self._on_attempt = on_attempt
        self._platforms = {p.name: p for p in platforms}
        self._now = now
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.send_timeout_s = send_timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = wake or asyncio.Event()  # shared with the case service, which sets it after commits

    def wake(self) -> None:
        self._wake.set()

    async def run(self, interval_s: float, settle_s: float = 0.05) -> None:
        """A pass every `interval_s`, or sooner when a commit wakes it; a wake-up waits `settle_s`
        first, so the commits of a busy second share a few passes instead of one pass each (at
        250 msg/s a pass per commit was a sixth of the bot's CPU, bench/ingest.py)."""
        while True:
            try:
                await self.deliver_due()
            except Exception:
                log.exception("outbox pass failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval_s)
                await asyncio.sleep(settle_s)

    async def deliver_due(self, limit: int = 200) -> int:
        """Fan the due messages out, then send the due deliveries; how many went out."""
        await self.fan_out(limit)
        now = self._now()
        async with self._uow() as uow:
            due = await uow.deliveries.claim_due(now, now + timedelta(seconds=self._lease_s()), limit)
        conversations: dict[_Conversation, list[PlatformDelivery]] = {}
        for delivery in due:  # oldest first, so each conversation keeps its order
            m = delivery.message
            conversations.setdefault((delivery.platform, m.chat_id, m.person_id), []).append(delivery)
        done = await asyncio.gather(*(self._deliver_in_order(rows) for rows in conversations.values()))
        return sum(done)

    async def fan_out(self, limit: int) -> int:
        """One delivery per platform that must carry each due message, and the message off the queue."""
        async with self._uow() as uow:
            due = await uow.messages.due_outbound(self._now(), limit)
            plan: dict[int, list[str]] = {}
            for message in due:
                try:
                    plan[message.id] = [n for n, p in self._platforms.items() if await self._carries(p, uow, message)]
                except Exception as exc:  # a platform's bug must not hold up every other message
                    log.warning("outbox %s: cannot fan out (%r)", message.id, exc)
                    retry_at = self._retry_at(message.attempts + 1)
                    await uow.messages.record_failure(message.id, repr(exc)[:500], retry_at)
            await uow.deliveries.fan_out(plan, self._now())
        return len(due)

    @staticmethod
    async def _carries(platform: Platform, uow: UnitOfWork, message: StoredMessage) -> bool:
        if message.private and not platform.private_lines:
            return False  # a one-to-one answer is no group post
        return await platform.reaches(uow, message)

    def _lease_s(self) -> float:
        return self.send_timeout_s + 30.0

    async def _deliver_in_order(self, rows: list[PlatformDelivery]) -> int:
        """One conversation's due deliveries on one platform in order, up to the first failure or wait."""
        sent = 0
        async with self._slots:
            for i, delivery in enumerate(rows):
                later = await self._deliver(delivery)
                if later is not None:  # the rest keep their order behind it
                    async with self._uow() as uow:
                        await uow.deliveries.postpone([d.id for d in rows[i + 1 :]], later)
                    break
                sent += 1
        return sent

    async def _deliver(self, delivery: PlatformDelivery) -> datetime | None:
        """Send one delivery; None when it went out, else when to try this conversation again."""
        platform = self._platforms.get(delivery.platform)
        try:
            if platform is None:
                raise ChannelError(f"no adapter for platform {delivery.platform!r}")
            async with asyncio.timeout(self.send_timeout_s):
                await self._send(platform, delivery.message)
        except Wait as wait:
            async with self._uow() as uow:
                await uow.deliveries.postpone([delivery.id], wait.until)
            return wait.until
        except Exception as exc:  # any adapter failure is a failed attempt, never a lost row
            return await self._failed(delivery, exc)
        async with self._uow() as uow:
            await uow.deliveries.sent(delivery.id, self._now())
        self._on_attempt(True)
        return None

    async def _send(self, platform: Platform, message: StoredMessage) -> None:
        """The post alone, or with its file where the platform carries files (else the text links to it)."""
        attachment = file_of(message)
        if attachment is not None and self._files is not None and isinstance(platform, FileSender):
            found = await self._files(attachment)
            if found is not None:
                await platform.send_file(message, *found)
                return
        await platform.send(message)

    async def _failed(self, delivery: PlatformDelivery, exc: Exception) -> datetime:
        retry_at = self._retry_at(delivery.attempts + 1)
        async with self._uow() as uow:
            await uow.deliveries.failed(delivery.id, repr(exc)[:500], retry_at)
        log.warning("outbox %s → %s: delivery failed (%r), retry at %s", delivery.message.id, delivery.platform,
                    exc, retry_at)  # fmt: skip
        self._on_attempt(False)
        return retry_at or self._now()

    def _retry_at(self, attempts: int) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** min(attempts - 1, 30))
        return self._now() + timedelta(seconds=delay * random.uniform(0.5, 1.5))


@dataclass(frozen=True)
class OutboxEntry:
    """A line of the admins' outbox view: a message not fanned out yet (`platform` None), or one
    platform's delivery of it."""

    message: StoredMessage
    platform: str | None
    attempts: int
    error: str | None


async def outbox_entries(uow: UnitOfWork, status: Delivery, limit: int) -> list[OutboxEntry]:
    """Pending or dead (or sent) messages and deliveries, newest first."""
    waiting = [OutboxEntry(m, None, m.attempts, error) for m, error in await uow.messages.by_status(status, limit)]
    platforms = [OutboxEntry(d.message, d.platform, d.attempts, d.error)
                 for d in await uow.deliveries.by_status(status, limit)]  # fmt: skip
    return sorted(waiting + platforms, key=lambda e: e.message.id, reverse=True)[:limit]


async def outbox_counts(uow: UnitOfWork) -> dict[str, int]:
    """Pending and dead, messages and deliveries together."""
    counts = dict(await uow.messages.outbox_counts())
    for status, n in (await uow.deliveries.counts()).items():
        counts[status] = counts.get(status, 0) + n
    return counts


async def retry_dead(uow: UnitOfWork, message_id: int, now: datetime) -> bool:
    """A message's dead letters (its own, or its platforms' deliveries) go back to pending."""
    own = await uow.messages.retry(message_id, now)
    return own or await uow.deliveries.retry(message_id, now) > 0
