"""The outbox: notices become message rows in the caller's transaction; a worker delivers them.

A row is written in the same transaction as the state change that caused it, so a crash
can never lose a message nor send one for a change that rolled back. Delivery retries with
exponential backoff (capped at `max_delay_s`) and jitter and gives up into a dead-letter state
after `max_attempts`: by default 20 attempts, about an hour, so a platform outage of minutes
loses nothing (bench/faults.py channel) and an admin can still retry a dead letter.

In a pass, the due rows of one conversation (a chat, or a person's private line) go out in
order, one at a time, and stop at the first failure (the rest wait for a later pass, without
spending an attempt); conversations go out concurrently (`concurrency`), and each send is cut
off after `send_timeout_s`, so a hanging platform API holds a pass up for that long at most
instead of for every row in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.messages import BOT_SENDER
from bot.render import Renderer
from tickets.model import Notice
from tickets.ports import Delivery, Direction, NewMessage, StoredMessage, UnitOfWork

log = logging.getLogger(__name__)


class OutboxNotifier:
    """The core's `Notifier` port: render each notice and store it as a pending outbound row."""

    def __init__(self, renderer: Renderer, channel_of: Callable[[str | None, str | None], str]) -> None:
        self._renderer = renderer
        self._channel_of = channel_of

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
                channel=self._channel_of(notice.chat_id, notice.person_id),
                not_before=notice.not_before,
                template=notice.template,
                private=notice.private and notice.chat_id is not None,
            )
            written.append(await uow.messages.add(message, now))
        return written


class ChannelError(Exception):
    """A channel could not deliver; the outbox retries later."""


class Channel(Protocol):
    async def send(self, message: StoredMessage) -> None: ...


class WebChannel:
    """Our own web chat: a stored row is what the browser reads, so delivery is acknowledging it."""

    async def send(self, message: StoredMessage) -> None:
        return None


class MirrorChannel:
    """The stored transcript is the record (web chat reads it); platforms bound to a chat or a person
    (Telegram …) get a copy. A mirror's transient failure makes the row retry; each mirror decides
    itself what is transient.

    A private row (an answer on a one-to-one line, routed through the grid's chat) is no group post:
    it goes only to the mirrors that carry one-to-one lines later (`private_lines`: the Official
    Account's customer-service messages), never into a bound Telegram group or WeCom appchat."""

    def __init__(self, primary: Channel, mirrors: Sequence[Channel], private_lines: Sequence[Channel] = ()) -> None:
        self._primary = primary
        self._mirrors = tuple(mirrors)
        self._private_lines = tuple(private_lines)

    async def send(self, message: StoredMessage) -> None:
        await self._primary.send(message)
        for mirror in self._mirrors:
            if not message.private or mirror in self._private_lines:
                await mirror.send(message)


class OutboxWorker:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        channels: Mapping[str, Channel],
        now: Callable[[], datetime],
        max_attempts: int = 20,
        base_delay_s: float = 1.0,
        on_attempt: Callable[[bool], None] = lambda ok: None,
        *,
        max_delay_s: float = 300.0,
        send_timeout_s: float = 30.0,
        concurrency: int = 16,
        wake: asyncio.Event | None = None,
    ) -> None:
        self._uow = uow
        self._on_attempt = on_attempt
        self._channels = channels
        self._now = now
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.send_timeout_s = send_timeout_s
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = wake or asyncio.Event()  # shared with the case service, which sets it after commits

    def wake(self) -> None:
        self._wake.set()

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:
                log.exception("outbox pass failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval_s)

    async def deliver_due(self, limit: int = 200) -> int:
        """Send what is due, then mark the sent rows in one transaction (a crash in between sends
        them again: delivery is at least once, as before; platforms dedupe or we skip by mapping)."""
        async with self._uow() as uow:
            due = await uow.messages.due_outbound(self._now(), limit)
        conversations: dict[tuple[str | None, str | None], list[StoredMessage]] = {}
        for message in due:  # oldest first, so each conversation keeps its order
            conversations.setdefault((message.chat_id, message.person_id), []).append(message)
        done = await asyncio.gather(*(self._deliver_in_order(rows) for rows in conversations.values()))
        sent = [message_id for ids in done for message_id in ids]
        if sent:
            async with self._uow() as uow:
                await uow.messages.mark_sent(sent)
            for _ in sent:
                self._on_attempt(True)
        return len(sent)

    async def _deliver_in_order(self, rows: list[StoredMessage]) -> list[int]:
        """One conversation's due rows in order, up to the first failure."""
        sent: list[int] = []
        async with self._slots:
            for message in rows:
                if not await self._deliver(message):
                    break
                sent.append(message.id)
        return sent

    async def _deliver(self, message: StoredMessage) -> bool:
        channel = self._channels.get(message.channel)
        try:
            if channel is None:
                raise ChannelError(f"no channel adapter for {message.channel!r}")
            async with asyncio.timeout(self.send_timeout_s):
                await channel.send(message)
        except Exception as exc:  # any adapter failure is a failed attempt, never a lost row
            retry_at = self._retry_at(message.attempts + 1)
            async with self._uow() as uow:
                await uow.messages.record_failure(message.id, repr(exc)[:500], retry_at)
            log.warning("outbox %s: delivery failed (%r), retry at %s", message.id, exc, retry_at)
            self._on_attempt(False)
            return False
        return True

    def _retry_at(self, attempts: int) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** min(attempts - 1, 30))
        return self._now() + timedelta(seconds=delay * random.uniform(0.5, 1.5))
