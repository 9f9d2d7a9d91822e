"""The bot's answer to a Telegram message threads under it, although the message's Telegram id is
remembered only after its handling commits and the outbox may get there first (a race a full CI
run hit): the answer waits for the id, briefly, and only when the message came from Telegram."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels.telegram import CHANNEL, TelegramGateway
from bot.outbox import Wait
from storage.sql import SqlUnitOfWork
from tickets.ports import Delivery, Direction, NewMessage, StoredMessage


class RecordingBot:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_message(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        return SimpleNamespace(message_id=9000 + len(self.sent))


async def answer_to(engine: AsyncEngine, channel: str, client_id: str | None = None) -> StoredMessage:
    now = datetime.now(UTC)
    async with SqlUnitOfWork(engine) as uow:
        await uow.channels.bind_chat(CHANNEL, "-100777", "yg-1")
        said = NewMessage(Direction.IN, "张阿姨", "路灯坏了", Delivery.HANDLED, chat_id="yg-1", channel=channel,
                          client_id=client_id)  # fmt: skip
        cause = await uow.messages.add(said, now)
        return await uow.messages.add(NewMessage(Direction.OUT, "gridbot", "已收到 #1", Delivery.PENDING,
                                                 chat_id="yg-1", reply_to=cause.id, channel="web"), now)  # fmt: skip


async def test_an_answer_waits_for_the_telegram_id_of_the_message_it_answers(engine: AsyncEngine) -> None:
    bot = RecordingBot()
    gateway = TelegramGateway(bot, lambda: SqlUnitOfWork(engine), b"k" * 32, lambda chat: None)  # type: ignore[arg-type]
    answer = await answer_to(engine, CHANNEL)
    with pytest.raises(Wait, match="waiting") as wait:
        await gateway.send(answer)  # the outbox tries it again in a second, without spending an attempt
    assert bot.sent == [] and wait.value.until <= datetime.now(UTC) + timedelta(seconds=1.5)
    async with SqlUnitOfWork(engine) as uow:
        assert answer.reply_to is not None
        await uow.channels.remember(CHANNEL, "-100777", "555", answer.reply_to)
    await gateway.send(answer)
    assert [(m["chat_id"], m["reply_to_message_id"]) for m in bot.sent] == [(-100777, 555)]


async def test_an_answer_to_a_message_from_another_channel_goes_unthreaded_at_once(engine: AsyncEngine) -> None:
    bot = RecordingBot()
    gateway = TelegramGateway(bot, lambda: SqlUnitOfWork(engine), b"k" * 32, lambda chat: None)  # type: ignore[arg-type]
    await gateway.send(await answer_to(engine, "web"))
    assert [(m["chat_id"], m["reply_to_message_id"]) for m in bot.sent] == [(-100777, None)]


async def test_a_group_that_has_the_post_is_not_sent_it_again(engine: AsyncEngine) -> None:
    """A retry after a partial send (two bound groups, the second failed) skips the first group."""
    bot = RecordingBot()
    gateway = TelegramGateway(bot, lambda: SqlUnitOfWork(engine), b"k" * 32, lambda chat: None)  # type: ignore[arg-type]
    answer = await answer_to(engine, "web")
    async with SqlUnitOfWork(engine) as uow:
        await uow.channels.bind_chat(CHANNEL, "-100888", "yg-1")
        await uow.channels.remember(CHANNEL, "-100777", "777", answer.id)  # went out there before
        assert await gateway.reaches(uow, answer)
    await gateway.send(answer)
    assert [m["chat_id"] for m in bot.sent] == [-100888]


async def test_an_answer_to_a_button_press_goes_at_once(engine: AsyncEngine) -> None:
    """A button press (callback query) is no Telegram message: no id will come to thread under, so
    its answer (接单 …) does not wait, and holds up no post behind it."""
    bot = RecordingBot()
    gateway = TelegramGateway(bot, lambda: SqlUnitOfWork(engine), b"k" * 32, lambda chat: None)  # type: ignore[arg-type]
    await gateway.send(await answer_to(engine, CHANNEL, client_id="tg-cb-4242"))
    assert [(m["chat_id"], m["reply_to_message_id"]) for m in bot.sent] == [(-100777, None)]
