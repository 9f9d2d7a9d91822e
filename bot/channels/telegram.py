"""Telegram groups through python-telegram-bot 22: the webhook route (secret-token header) or
polling, group messages, replies threaded to the bot's ticket posts, inline buttons, `/bind`.

- A group becomes a micro-grid's chat with `/bind CODE`, where CODE comes from
  `run_bot.py telegram-code --chat yg-1` (an admin hands it out; holding it is the authority).
- A worker or officer links their Telegram account with `/iam CODE` (`--person w-yg-1`), sent to
  the bot in a private chat; from then on they are recognised and their pings reach them on
  Telegram (they must have started a private chat with the bot). An `/iam` said in a group links
  nobody: everyone there has read the code, so it is spent on the spot and the sender is told to
  ask for a new one and send it privately.
- Codes are single-use and expire (`bot/channels/codes.py`): a spent or expired code is refused.
- Anyone else in a bound group is a resident, identified as `名字#tg<user id>`.
- Outbound: the stored transcript stays the record; every row of a bound chat or a linked person is
  mirrored here, with the bot's ticket posts carrying buttons (接单/已处理/吹哨, 满意/基本满意/不满意).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets as pysecrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Message, Update, User
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.channels.buttons import NO_ANSWER, buttons_for, toast
from bot.channels.codes import LinkCodes, Purpose, redeem
from bot.errors import ApiError
from bot.inputs import json_body
from bot.messages import Attachment, AttachmentKind, Handle, Handled, InboundMessage
from bot.outbox import ChannelError, Wait
from bot.ratelimit import RateLimiter, SendLimiter
from tickets.ports import StoredMessage, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
CHANNEL = "telegram"
CAPTION_MAX = 1024  # Telegram's limit on a document's caption
MAPPING_WAIT_S = 30
BUTTON_PREFIX = "tg-cb-"  # the client id of a button press (a callback query)
MAPPING_POLL_S = 1.0  # how often a post waiting for the id of the message it answers looks again

TEXTS = {
    "bound": "本群已绑定到{grid}。居民在群里反映问题，网格通会登记成工单并跟进。",
    "bad_code": "绑定码无效，请向平台管理员索取新的绑定码。",
    "spent": "这个码已失效（已用过或已过期），请向平台管理员索取新的。",
    "iam_in_group": "为保护账号安全，身份码只能私聊机器人发送。这个身份码已在群里公开，现已作废；"
    "请向平台管理员索取新的身份码，再私聊我发送 /iam 身份码。",
    "linked": "{name}，已确认您的身份，之后的工单通知会发到这里。",
    "private": "您好！请在所在微网格的群里反映问题；工作人员请发送 /iam 身份码 绑定账号。",
}


async def _not_attached(message: InboundMessage) -> Handled:
    raise RuntimeError("the Telegram gateway has no dispatcher attached")


def resident_id(user: User) -> str:
    return f"{user.full_name.strip()[:40] or '居民'}#tg{user.id}"


class MalformedUpdate(ValueError):
    """The webhook body looks like an update but Telegram's types cannot be built from it."""


def _integers(*ids: object) -> None:
    """Telegram's ids are integers. PTB builds its objects from whatever JSON came without checking
    types, and a "chat id" holding text (a NUL, on PostgreSQL) would fail deep inside a query."""
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise MalformedUpdate("an id is not an integer")


class TelegramGateway:
    def __init__(
        self, bot: Bot, uow: UnitOfWorkFactory, codes: LinkCodes, grid_name: Callable[[str], str | None],
        max_text: int = 2000, limiter: SendLimiter | None = None, *, handle: Handle = _not_attached,
    ) -> None:  # fmt: skip
        self.bot = bot
        self._uow = uow
        self._handle = handle
        self._codes = codes
        self._grid_name = grid_name
        self._max_text = max_text
        self._limiter = limiter or RateLimiter(20, 60, 30, 1)

    async def start(self, polling: bool) -> None:
        """Check the token (getMe, retried while the API is unreachable), then poll if asked to."""
        while True:
            try:
                await self.bot.initialize()
                break
            except TelegramError as exc:
                log.warning("telegram: getMe failed (%r); retrying in 10 s", exc)
                await asyncio.sleep(10)
        log.info("telegram: connected as @%s (%s)", self.bot.username, "polling" if polling else "webhook")
        if polling:
            await self.poll()

    # ------------------------------------------------------------------------------- inbound

    async def handle_update(self, data: Mapping[str, Any]) -> Handled | None:
        try:
            update = Update.de_json(dict(data), self.bot)
        except Exception as exc:  # PTB's parser raises whatever a malformed field makes it raise
            raise MalformedUpdate(repr(exc)) from exc
        if update.callback_query is not None:
            return await self._button(update)
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return None  # edits, channel posts, service messages: nothing to do
        _integers(message.chat.id, message.message_id, message.from_user.id)
        text = message.text or message.caption or ""
        if not isinstance(text, str):  # PTB builds objects from whatever JSON came, without checking types
            raise MalformedUpdate(f"text of type {type(text).__name__}")
        text = text.strip()
        if text.startswith(("/bind", "/iam", "/start")):
            await self._command(message, text)
            return None
        if message.chat.type == "private":
            await self._reply(message.chat.id, TEXTS["private"])
            return None
        chat_id = await self._chat_of(message.chat.id)
        if chat_id is None:
            return None  # a group nobody bound: ignored
        inbound = await self._inbound(message, chat_id, text, message.from_user)
        if inbound is None:
            return None
        return await self._dispatch(inbound, message.chat.id, message.message_id)

    async def _button(self, update: Update) -> Handled | None:
        """A press is the typed command it stands for (`bot/channels/buttons.py`). The presser is
        answered at once with a short toast (已接单, or why not); the group post follows in the
        outbox. Telegram shows a spinner on the button until the query is answered, so it is
        answered even when the press is not ours or its handling failed."""
        query = update.callback_query
        assert query is not None
        answer = NO_ANSWER
        try:
            handled = await self._pressed(query)
            if handled is not None:
                answer = toast([(r.template, r.text) for r in handled.replies])
            return handled
        except Exception:
            answer = "处理失败，请稍后再试"
            raise
        finally:
            with contextlib.suppress(TelegramError):
                await query.answer(text=answer)

    async def _pressed(self, query: CallbackQuery) -> Handled | None:
        message = query.message
        if not isinstance(message, Message) or not query.data:
            return None
        _integers(message.chat.id, query.from_user.id)
        chat_id = await self._chat_of(message.chat.id)
        if chat_id is None:
            return None
        sender = await self._sender(query.from_user)
        inbound = InboundMessage(chat_id, sender, query.data[:200], None, f"{BUTTON_PREFIX}{query.id}", CHANNEL)
        return await self._handle(inbound)

    async def _inbound(self, message: Message, chat_id: str, text: str, user: User) -> InboundMessage | None:
        attachments: list[Attachment] = []
        if message.photo:
            attachments.append(Attachment(AttachmentKind.IMAGE, f"tg-file:{message.photo[-1].file_id}"))
        if message.location is not None:
            loc = message.location
            attachments.append(Attachment(AttachmentKind.LOCATION, lat=loc.latitude, lng=loc.longitude))
        if not text and not attachments:
            return None  # stickers, voice, video …: not something the bot acts on
        reply_to = None
        if message.reply_to_message is not None:
            async with self._uow() as uow:
                reply_to = await uow.channels.message_of(
                    CHANNEL, str(message.chat.id), str(message.reply_to_message.message_id)
                )
        return InboundMessage(
            chat_id, await self._sender(user), text[: self._max_text], reply_to,
            f"tg-{message.chat.id}-{message.message_id}", CHANNEL, tuple(attachments),
        )  # fmt: skip

    async def _dispatch(self, inbound: InboundMessage, tg_chat: int, tg_message: int) -> Handled:
        handled = await self._handle(inbound)
        async with self._uow() as uow:
            await uow.channels.remember(CHANNEL, str(tg_chat), str(tg_message), handled.message_id)
        return handled

    async def _command(self, message: Message, text: str) -> None:
        command, _, raw = text.partition(" ")
        if command.startswith("/bind"):
            await self._reply(message.chat.id, await self._bind(message, raw))
        elif command.startswith("/iam"):
            await self._reply(message.chat.id, await self._link(message, raw))
        else:
            await self._reply(message.chat.id, TEXTS["private"])

    async def _bind(self, message: Message, raw: str) -> str:
        """`/bind CODE` in a group binds it to the code's micro-grid (once per code)."""
        code = self._codes.read(Purpose.BIND, raw)
        if code is None or message.chat.type == "private":
            return TEXTS["bad_code"]

        async def bind(uow: UnitOfWork) -> None:
            await uow.channels.bind_chat(CHANNEL, str(message.chat.id), code.subject)

        if not await redeem(self._uow, self._codes, code, bind):
            return TEXTS["spent"]
        return TEXTS["bound"].format(grid=self._grid_name(code.subject) or code.subject)

    async def _link(self, message: Message, raw: str) -> str:
        """`/iam CODE` in a private chat links the sender to the code's person (once per code); in a
        group the code is public, so it is burnt and links nobody."""
        code, user = self._codes.read(Purpose.IAM, raw), message.from_user
        if message.chat.type != "private":
            if code is not None:
                await redeem(self._uow, self._codes, code)
            return TEXTS["iam_in_group"]
        if code is None or user is None:
            return TEXTS["bad_code"]

        async def link(uow: UnitOfWork) -> None:
            await uow.channels.link_person(CHANNEL, str(user.id), code.subject)

        if not await redeem(self._uow, self._codes, code, link):
            return TEXTS["spent"]
        return TEXTS["linked"].format(name=user.full_name)

    async def _chat_of(self, tg_chat: int) -> str | None:
        async with self._uow() as uow:
            return await uow.channels.chat_of(CHANNEL, str(tg_chat))

    async def _sender(self, user: User) -> str:
        async with self._uow() as uow:
            person = await uow.channels.person_of(CHANNEL, str(user.id))
        return person or resident_id(user)

    async def _reply(self, tg_chat: int, text: str) -> None:
        try:
            await self.bot.send_message(chat_id=tg_chat, text=text)
        except TelegramError as exc:
            log.warning("telegram: could not answer chat %s: %r", tg_chat, exc)

    # ------------------------------------------------------------------------------ outbound

    name = CHANNEL
    private_lines = False

    async def reaches(self, uow: UnitOfWork, message: StoredMessage) -> bool:
        if message.person_id:
            return await self._person_target(uow, message.person_id) is not None
        return bool(message.chat_id) and bool(await uow.channels.external_chats(CHANNEL, message.chat_id or ""))

    async def send(self, message: StoredMessage) -> None:
        """Mirror one outbox row to Telegram: a group post to every bound group, a ping to the
        person's private chat. Network trouble and flood limits retry; a refusal (the user never
        started the bot, the bot left the group) is logged, the transcript keeps the message.
        A group that already has the post (its Telegram id is remembered) is skipped on a retry."""
        async with self._uow() as uow:
            targets = await self._targets(uow, message)
        for tg_chat, reply_to in targets:
            await self._limiter.wait(tg_chat)
            try:
                sent = await self.bot.send_message(
                    chat_id=int(tg_chat), text=message.text, reply_markup=self._keyboard(message),
                    reply_to_message_id=int(reply_to) if reply_to else None,
                )  # fmt: skip
            except RetryAfter as exc:
                raise ChannelError(f"telegram flood control: retry after {exc.retry_after}") from exc
            except (BadRequest, Forbidden) as exc:  # BadRequest is a NetworkError subclass: catch it first
                log.warning("telegram refused message %s for %s: %r", message.id, tg_chat, exc)
                continue
            except (TimedOut, NetworkError) as exc:
                raise ChannelError(f"telegram unreachable: {exc!r}") from exc
            async with self._uow() as uow:
                await uow.channels.remember(CHANNEL, tg_chat, str(sent.message_id), message.id)

    async def send_file(self, message: StoredMessage, name: str, data: bytes) -> None:
        """The post with a file (the monthly bulletin's PDF): sendDocument, the text as its caption (a
        text longer than a caption goes first as a message). Errors as in `send`."""
        caption: str | None = message.text
        if len(message.text) > CAPTION_MAX:
            await self.send(message)
            caption = None
        async with self._uow() as uow:
            targets = await self._targets(uow, message)
        for tg_chat, _ in targets:
            await self._limiter.wait(tg_chat)
            try:
                await self.bot.send_document(chat_id=int(tg_chat), document=InputFile(data, filename=name),
                                             caption=caption)  # fmt: skip
            except RetryAfter as exc:
                raise ChannelError(f"telegram flood control: retry after {exc.retry_after}") from exc
            except (BadRequest, Forbidden) as exc:
                log.warning("telegram refused file of message %s for %s: %r", message.id, tg_chat, exc)
            except (TimedOut, NetworkError) as exc:
                raise ChannelError(f"telegram unreachable: {exc!r}") from exc

    async def _person_target(self, uow: UnitOfWork, person_id: str) -> str | None:
        if await uow.channels.preferred_channel(person_id) != CHANNEL:
            return None  # linked elsewhere more recently: their pings go there
        return await uow.channels.external_person(CHANNEL, person_id)

    async def _targets(self, uow: UnitOfWork, message: StoredMessage) -> list[tuple[str, str | None]]:
        if message.person_id:
            who = await self._person_target(uow, message.person_id)
            done = who is not None and await uow.channels.external_message(CHANNEL, who, message.id)
            return [(who, None)] if who and not done else []
        if not message.chat_id:
            return []
        out = []
        for tg_chat in await uow.channels.external_chats(CHANNEL, message.chat_id):
            if await uow.channels.external_message(CHANNEL, tg_chat, message.id):
                continue  # this group has it already
            reply = (
                await uow.channels.external_message(CHANNEL, tg_chat, message.reply_to) if message.reply_to else None
            )
            out.append((tg_chat, reply))
        if message.reply_to and out and all(reply is None for _, reply in out):
            await self._wait_for_mapping(uow, message.reply_to)
        return out

    @staticmethod
    async def _wait_for_mapping(uow: UnitOfWork, cause_id: int) -> None:
        """The answer to a Telegram message threads under it, but the message's Telegram id is
        remembered just after its handling commits, and the outbox may be faster: wait shortly
        while that is the case (a cause from another channel, or one older than MAPPING_WAIT_S
        whose mapping never came, is answered unthreaded)."""
        cause = await uow.messages.get(cause_id)
        if cause is None or cause.channel != CHANNEL or (cause.client_id or "").startswith(BUTTON_PREFIX):
            return  # a button press is no Telegram message: no id will ever come to thread under
        now = datetime.now(UTC)
        if now - cause.created_at < timedelta(seconds=MAPPING_WAIT_S):
            until = min(now + timedelta(seconds=MAPPING_POLL_S), cause.created_at + timedelta(seconds=MAPPING_WAIT_S))
            raise Wait(until, "waiting for the Telegram id of the message this answers")

    @staticmethod
    def _keyboard(message: StoredMessage) -> InlineKeyboardMarkup | None:
        buttons = buttons_for(message.template, message.ticket_id, message.person_id)
        if not buttons or message.ticket_id is None:
            return None
        tid = message.ticket_id
        return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.text(tid)) for b in buttons]])

    # ------------------------------------------------------------------------------- polling

    async def poll(self, timeout_s: int = 25) -> None:
        """getUpdates long polling, for machines without a public address (no webhook)."""
        offset: int | None = None
        with contextlib.suppress(TelegramError):
            await self.bot.delete_webhook()
        while True:
            try:
                updates = await self.bot.get_updates(offset=offset, timeout=timeout_s)
            except TelegramError as exc:
                log.warning("telegram polling failed (%r); retrying in 5 s", exc)
                await asyncio.sleep(5)
                continue
            for update in updates:
                offset = update.update_id + 1
                try:
                    await self.handle_update(update.to_dict())
                except Exception:
                    log.exception("telegram update %s failed (kept, retried by client id)", update.update_id)


def build_router(gateway: TelegramGateway, secret: str) -> APIRouter:
    router = APIRouter()

    @router.post("/telegram/webhook", include_in_schema=False)
    async def webhook(
        request: Request, x_telegram_bot_api_secret_token: str | None = Header(default=None)
    ) -> JSONResponse:
        if not secret or not pysecrets.compare_digest(
            (x_telegram_bot_api_secret_token or "").encode(), secret.encode()
        ):
            raise ApiError(403, "密钥错误 / bad secret token")
        data = json_body(await request.body())  # 400 for broken, deeply nested or out-of-range JSON
        if not isinstance(data, dict) or "update_id" not in data:
            raise ApiError(400, "不是 Telegram 更新 / not a Telegram update")
        try:
            await gateway.handle_update(data)
        except (MalformedUpdate, KeyError, TypeError, ValueError) as exc:
            log.warning("telegram: malformed update %s: %r", data.get("update_id"), exc)
            raise ApiError(400, "格式错误的更新 / malformed update") from exc
        return JSONResponse({"ok": True})

    return router
