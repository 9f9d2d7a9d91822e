"""The outbox: notices become message rows in the caller's transaction; a worker delivers them.

A row is written in the same transaction as the state change that caused it, so a crash
can never lose a message nor send one for a change that rolled back. Delivery retries with
exponential backoff and jitter and gives up into a dead-letter state after `max_attempts`.
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
    itself what is transient."""

    def __init__(self, primary: Channel, mirrors: Sequence[Channel]) -> None:
        self._primary = primary
        self._mirrors = tuple(mirrors)

    async def send(self, message: StoredMessage) -> None:
        await self._primary.send(message)
        for mirror in self._mirrors:
            await mirror.send(message)


class OutboxWorker:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        channels: Mapping[str, Channel],
        now: Callable[[], datetime],
        max_attempts: int = 8,
        base_delay_s: float = 1.0,
        on_attempt: Callable[[bool], None] = lambda ok: None,
    ) -> None:
        self._uow = uow
        self._on_attempt = on_attempt
        self._channels = channels
        self._now = now
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self._wake = asyncio.Event()

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
        sent = [message.id for message in due if await self._deliver(message)]
        if sent:
            async with self._uow() as uow:
                await uow.messages.mark_sent(sent)
            for _ in sent:
                self._on_attempt(True)
        return len(sent)

    async def _deliver(self, message: StoredMessage) -> bool:
        channel = self._channels.get(message.channel)
        try:
            if channel is None:
                raise ChannelError(f"no channel adapter for {message.channel!r}")
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
        delay = self.base_delay_s * 2 ** (attempts - 1)
        return self._now() + timedelta(seconds=delay * random.uniform(0.5, 1.5))
