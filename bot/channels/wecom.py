"""WeCom (企业微信), with wechatpy's WeCom crypto.

- **AI bot** (智能机器人, `POST /wecom/aibot`): group @-mentions arrive as encrypted JSON; the receive
  id is empty. A group is bound to a micro-grid with `@机器人 /bind CODE` (the Telegram codes).
  The answer is the passive, encrypted reply, in the formats WeCom takes for a reply to a user
  message: `stream` (finished at once), or a `template_card` of type `button_interaction` when the
  answer is a case post with buttons (接单/已处理/吹哨 for staff, 满意/基本满意/不满意 for residents;
  `bot/channels/buttons.py`). A press comes back as a `template_card_event`, checked exactly like
  every other callback; it is handled as the command it stands for (`accept:12` → `/接单 12`), and
  answered with `update_template_card` for the presser only (the toast: 已接单, or why not).
- **App** (`POST /wecom/app`): staff write to the app one-to-one (encrypted XML, receive id = the
  corp id): `#12 已处理` acts on case 12 in its grid's chat; without a number, in their own grid;
  an officer above grid level's `我的工单` lists every grid of their area.
  A WeCom user whose userid is a directory person id is that person (or link with `/iam CODE`;
  codes are single-use and expire; an `/iam` said to the AI bot in a group is burnt, links nobody).
- **Outbound**: pings to staff (新工单, 催办, 超时上报 …) as app messages. An AI bot cannot post into a
  group on its own, so the group's later posts (已接单, 已处理·请评价, escalations …) go through what
  WeCom allows: an `appchat` (an internal group the app created) bound with
  `run_bot.py wecom-appchat CHATID yg-1`, else the group robot (群机器人) added to the group, bound
  with `run_bot.py wecom-webhook KEY yg-1` (send-only, text, 20 messages/minute per robot: a post
  over the limit is postponed with `Wait`, never failed). A post that answers an @-mention in the
  group went out as the passive reply and is not pushed again.
Callbacks are checked first: message signature, replay window, AES, a (timestamp, nonce) never seen
with another body (`bot/replay.py`); XML with a DTD or entities is refused with 400. URL
verification (GET) decrypts `echostr`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from wechatpy.enterprise.crypto import PrpCrypto

from bot.channels.buttons import Button, buttons_for, press, toast
from bot.channels.codes import LinkCodes, Purpose, redeem
from bot.channels.wechat_oa import safe_xml
from bot.channels.xmlreply import xml_message
from bot.errors import ApiError
from bot.inputs import external_id, json_body
from bot.interpret import Route, command, ticket_ref
from bot.messages import Handle, Handled, InboundMessage, Reply
from bot.nlu.port import Parse
from bot.outbox import ChannelError, Wait
from bot.ratelimit import RateLimiter
from bot.replay import NonceStore, ReplayGuard
from bot.tokens import AccessToken, MemoryTokenStore, TokenStore
from tickets.directory import Directory
from tickets.ports import StoredMessage, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
CHANNEL, APPCHAT, WEBHOOK = "wecom", "wecom-appchat", "wecom-webhook"
AIBOT_PREFIX, CARD_PREFIX = "wc-", "wccard-"  # client ids: an @-mention (answered passively), a card press
WEBHOOK_PER_MINUTE = 20  # WeCom's limit per group robot
WEBHOOK_MAX_BYTES = 2048  # a group robot's text message
CARD_TEXT_MAX = 112  # WeCom's advice for a card's sub_title_text (an updated card's answer is cut to it)
_WEBHOOK_KEY = re.compile(r"[A-Za-z0-9-]{8,64}")
TEXTS = {
    "bound": "本群已绑定到{grid}。@我 反映问题即可登记工单。",
    "bad_code": "绑定码无效，请向平台管理员索取新的绑定码。",
    "unbound": "本群还没有绑定微网格，请管理员 @我 发送 /bind 绑定码。",
    "unsupported": "暂时只能处理文字消息，谢谢！",
    "no_grid": "请注明工单号，例如“#12 已处理”；发“我的工单”可查看在办工单。",
    "unknown": "您不在本平台的人员名单中，请联系管理员。",
    "linked": "已确认您的身份，之后的工单通知会发到这里。",
    "spent": "这个码已失效（已用过或已过期），请向平台管理员索取新的。",
    "bad_button": "这个按钮已失效，请直接 @我 发送指令，例如“#12 已处理”。",
    "iam_in_group": "为保护账号安全，身份码只能在企业微信里私聊“网格通”应用发送。这个身份码已在群里公开，"
    "现已作废；请向平台管理员索取新的身份码。",
}


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode()).hexdigest()


def resident_id(userid: str) -> str:
    digits = int(hashlib.sha1(userid.encode()).hexdigest()[:12], 16)
    return f"{userid[:20]}#wc{digits}"


async def _not_attached(message: InboundMessage) -> Handled:
    raise RuntimeError("the WeCom gateway has no dispatcher attached")


class Slots(Protocol):
    """A send limit per key: take a slot (0) or say how many seconds until one frees."""

    async def take(self, chat: str) -> float: ...


class MemorySlots:
    """`Slots` in this process (`storage/redis_ratelimit.py` keeps them for every process)."""

    def __init__(self, per_key: int, window_s: float) -> None:
        self._limiter = RateLimiter(per_key, window_s, 1_000_000, 1)

    async def take(self, chat: str) -> float:
        return self._limiter.take(chat)


def webhook_key(raw: str) -> str:
    """A group robot's key, given as the key or its whole webhook URL; ValueError if neither."""
    query = parse_qs(urlsplit(raw.strip()).query)
    key = (query.get("key") or [raw.strip()])[0]
    if not _WEBHOOK_KEY.fullmatch(key):
        raise ValueError("not a group robot webhook key (…/cgi-bin/webhook/send?key=KEY)")
    return key


def _webhook_ref(key: str) -> str:
    """How a robot is named where its key would leak (logs, the sent-message memory, limits)."""
    return "wh-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _cut(text: str, max_bytes: int) -> str:
    data = text.encode()
    return text if len(data) <= max_bytes else data[: max_bytes - 3].decode(errors="ignore") + "…"


class WecomGateway:
    def __init__(
        self, *, corp_id: str, token: str, aes_key: str, app_secret: str | None, agent_id: str | None,
        api_base: str, uow: UnitOfWorkFactory, directory: Callable[[], Directory], codes: LinkCodes,
        replay_window_s: int, max_text: int = 2000, tokens: TokenStore | None = None,
        handle: Handle = _not_attached, nonces: NonceStore | None = None, webhook_slots: Slots | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:  # fmt: skip
        self._corp_id, self._token = corp_id, token
        self._crypto = PrpCrypto(base64.b64decode(aes_key + "="))
        self._app_secret, self._agent_id = app_secret, agent_id
        self._http = httpx.AsyncClient(base_url=api_base.rstrip("/"), timeout=5)
        self._uow, self._directory, self._codes = uow, directory, codes
        self._replay_window_s, self._max_text = replay_window_s, max_text
        self._replay = ReplayGuard(f"wecom:{corp_id}", replay_window_s, nonces)
        self._handle = handle
        self._slots = webhook_slots or MemorySlots(WEBHOOK_PER_MINUTE, 60)
        self._now = now
        self._access = AccessToken(f"wecom:{corp_id}:{agent_id or ''}", self._fetch_token, tokens or MemoryTokenStore())

    @property
    def corp_id(self) -> str:
        return self._corp_id

    # ----------------------------------------------------------------------- crypto

    def open(self, params: dict[str, str], encrypt: str, receive_id: str) -> str:
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not hmac.compare_digest(signature(self._token, timestamp, nonce, encrypt).encode(),
                                   params.get("msg_signature", "").encode()):  # fmt: skip
            raise ApiError(403, "签名错误 / bad msg_signature")
        if self._replay_window_s and (
            not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self._replay_window_s
        ):
            raise ApiError(403, "请求已过期 / timestamp outside the replay window")
        try:
            return str(self._crypto.decrypt(encrypt, receive_id))
        except Exception as exc:  # wrong key, padding, another corp's message
            raise ApiError(403, "解密失败 / cannot decrypt") from exc

    def seal(self, plaintext: str, receive_id: str, nonce: str) -> tuple[str, str, str]:
        """(encrypt, msg_signature, timestamp) of a reply."""
        encrypt = self._crypto.encrypt(plaintext, receive_id)
        encrypt = encrypt.decode() if isinstance(encrypt, bytes) else str(encrypt)
        timestamp = str(int(time.time()))
        return encrypt, signature(self._token, timestamp, nonce, encrypt), timestamp

    # ----------------------------------------------------------------------- AI bot

    async def aibot(self, params: dict[str, str], body: bytes) -> Response:
        envelope = json_body(body)  # 400 for broken, deeply nested or out-of-range JSON
        try:
            encrypt = str(envelope["encrypt"])
        except (KeyError, TypeError) as exc:
            raise ApiError(400, "不是 AI 机器人回调 / not an AI bot callback") from exc
        opened = self.open(params, encrypt, "")
        await self._replay.admit(params.get("timestamp", ""), params.get("nonce", ""), body)
        event = json_body(opened)
        if not isinstance(event, dict):
            raise ApiError(400, "无法识别的消息 / unreadable message")
        nonce = params.get("nonce", "n")
        if event.get("msgtype") == "event":
            card = (event.get("event") or {}) if isinstance(event.get("event"), dict) else {}
            if card.get("eventtype") == "template_card_event":
                return await self._card_event(event, card.get("template_card_event"), nonce)
        try:
            userid = external_id(event["from"]["userid"], "userid")
            chat = external_id(event.get("chatid") or userid, "chatid")
            text = _strip_mention(str((event.get("text") or {}).get("content") or ""))
        except (AttributeError, KeyError, TypeError) as exc:
            raise ApiError(400, "无法识别的消息 / unreadable message") from exc
        answer = await self._aibot_answer(event, chat, userid, text)
        return self._passive(self._reply_body(answer), nonce)

    async def _aibot_answer(self, event: dict[str, Any], chat: str, userid: str, text: str) -> str | Handled | None:
        if text.startswith("/bind"):
            return await self._bind(chat, text.removeprefix("/bind").strip())
        if text.startswith("/iam"):  # said where the group reads it: burnt, links nobody
            code = self._codes.read(Purpose.IAM, text.removeprefix("/iam"))
            if code is not None and event.get("chattype") != "single":
                await redeem(self._uow, self._codes, code)
            return TEXTS["iam_in_group"]
        if event.get("msgtype") != "text" or not text:
            return TEXTS["unsupported"] if event.get("msgtype") not in ("event", None) else None
        async with self._uow() as uow:
            chat_id = await uow.channels.chat_of(CHANNEL, chat)
        if chat_id is None:
            return TEXTS["unbound"]
        sender = await self._person(userid) or resident_id(userid)
        client_id = f"{AIBOT_PREFIX}{event.get('msgid') or hashlib.sha1(text.encode()).hexdigest()[:16]}"
        single = event.get("chattype") == "single" or not event.get("chatid")  # the AI bot's one-to-one chat
        inbound = InboundMessage(chat_id, sender, text[: self._max_text], None, client_id, CHANNEL, private=single)
        return await self._handle(inbound)

    async def _card_event(self, event: dict[str, Any], card: object, nonce: str) -> Response:
        """A press on one of our cards' buttons: the command it stands for, in the card's chat, from the
        presser; answered by updating the presser's card (the others keep their buttons)."""
        if not isinstance(card, dict):
            raise ApiError(400, "无法识别的卡片事件 / unreadable card event")
        try:
            userid = external_id(event["from"]["userid"], "userid")
            chat = external_id(event.get("chatid") or userid, "chatid")
            key, task_id = str(card.get("event_key") or ""), str(card.get("task_id") or "")[:128]
        except (AttributeError, KeyError, TypeError) as exc:
            raise ApiError(400, "无法识别的卡片事件 / unreadable card event") from exc
        command = press(key)
        if command is None:
            return self._passive(self._card_update(userid, task_id, "未能处理", TEXTS["bad_button"]), nonce)
        async with self._uow() as uow:
            chat_id = await uow.channels.chat_of(CHANNEL, chat)
        if chat_id is None:
            return self._passive(self._card_update(userid, task_id, "未能处理", TEXTS["unbound"]), nonce)
        sender = await self._person(userid) or resident_id(userid)
        client_id = f"{CARD_PREFIX}{event.get('msgid') or hashlib.sha1(f'{userid}:{key}'.encode()).hexdigest()[:16]}"
        single = event.get("chattype") == "single" or not event.get("chatid")
        handled = await self._handle(InboundMessage(chat_id, sender, command, None, client_id, CHANNEL, private=single))
        said = [(r.template, r.text) for r in handled.replies]
        answer = "\n\n".join(text for _, text in said)
        return self._passive(self._card_update(userid, task_id, toast(said), answer), nonce)

    async def _bind(self, chat: str, raw: str) -> str:
        code = self._codes.read(Purpose.BIND, raw)
        node = self._directory().grid_for_chat(code.subject) if code else None
        if code is None or node is None:
            return TEXTS["bad_code"]

        async def bind(uow: UnitOfWork) -> None:
            await uow.channels.bind_chat(CHANNEL, chat, code.subject)

        if not await redeem(self._uow, self._codes, code, bind):
            return TEXTS["spent"]
        return TEXTS["bound"].format(grid=node.name)

    def _reply_body(self, answer: str | Handled | None) -> dict[str, Any] | None:
        """A reply to a user message: `stream` (finished at once), or a button card for a case post
        with buttons (WeCom takes no `text` here: that is for the welcome only)."""
        if isinstance(answer, str):
            return _stream(answer)
        if answer is None or not answer.replies:
            return None
        text = "\n\n".join(r.text for r in answer.replies)
        carded = next(((r, b) for r in answer.replies if (b := buttons_for(r.template, r.ticket_id, None))), None)
        if carded is None:
            return _stream(text)
        return _button_card(carded[0], carded[1], text)

    @staticmethod
    def _card_update(userid: str, task_id: str, title: str, text: str) -> dict[str, Any]:
        card: dict[str, Any] = {"card_type": "text_notice", "main_title": {"title": _cut(title, 100)},
                                "task_id": task_id}  # fmt: skip
        if text and text != title:
            card["sub_title_text"] = text[:CARD_TEXT_MAX]
        return {"response_type": "update_template_card", "userids": [userid], "template_card": card}

    def _passive(self, body: dict[str, Any] | None, nonce: str) -> Response:
        if not body:
            return PlainTextResponse("")
        plain = json.dumps(body, ensure_ascii=False)
        encrypt, msg_signature, timestamp = self.seal(plain, "", nonce)
        return JSONResponse({"encrypt": encrypt, "msgsignature": msg_signature, "timestamp": timestamp, "nonce": nonce})

    # -------------------------------------------------------------------------- app

    async def app(self, params: dict[str, str], body: bytes) -> Response:
        root = safe_xml(body)
        encrypted = root.find("Encrypt")
        if encrypted is None or not encrypted.text:
            raise ApiError(400, "缺少 Encrypt / no Encrypt element")
        xml = self.open(params, encrypted.text, self._corp_id)
        await self._replay.admit(params.get("timestamp", ""), params.get("nonce", ""), body)
        fields = {child.tag: (child.text or "") for child in safe_xml(xml.encode("utf-8"))}
        if fields.get("FromUserName"):
            external_id(fields["FromUserName"], "FromUserName")  # 400 when too long for its column
        answer = await self._app_answer(fields)
        if not answer:
            return PlainTextResponse("")
        reply = xml_message([
            ("ToUserName", fields.get("FromUserName", "")), ("FromUserName", self._corp_id),
            ("CreateTime", int(time.time())), ("MsgType", "text"), ("Content", answer),
        ])  # fmt: skip
        nonce = params.get("nonce", "n")
        encrypt, msg_signature, timestamp = self.seal(reply, self._corp_id, nonce)
        envelope: list[tuple[str, str | int]] = [("Encrypt", encrypt), ("MsgSignature", msg_signature),
                                                 ("TimeStamp", int(timestamp)), ("Nonce", nonce)]  # fmt: skip
        return Response(xml_message(envelope), media_type="application/xml")

    async def _app_answer(self, fields: dict[str, str]) -> str | None:
        userid, kind, text = (
            fields.get("FromUserName", ""),
            fields.get("MsgType", ""),
            fields.get("Content", "").strip(),
        )
        if kind == "event":
            return None
        if text.startswith("/iam"):
            return await self._link(userid, text.removeprefix("/iam").strip())
        if kind != "text" or not text:
            return TEXTS["unsupported"]
        person = await self._person(userid)
        if person is None:
            return TEXTS["unknown"]
        chat_id = await self._chat_for(person, text)
        if chat_id is None:
            return TEXTS["no_grid"]
        client_id = f"wcapp-{fields.get('MsgId') or hashlib.sha1(text.encode()).hexdigest()[:16]}"
        inbound = InboundMessage(chat_id, person, text[: self._max_text], None, client_id, CHANNEL, private=True)
        handled = await self._handle(inbound)  # one to one with the app: never in the group's transcript
        return "\n\n".join(r.text for r in handled.replies) or None

    async def _chat_for(self, person: str, text: str) -> str | None:
        """A named case's chat, else the chat of the person's own micro-grid. An officer above grid
        level has none: their `我的工单` or `我的积分` (or a number that is no case, answered 没有找到)
        goes through the chat of a grid of their area (one to one it lists the whole area; department
        staff's `我的积分` any grid's); anything else they say needs a case number (a case picked from
        one grid's chat without it would be a guess)."""
        ticket_id = ticket_ref(Parse("", 0.0), text)
        if ticket_id is not None:
            async with self._uow() as uow:
                ticket = await uow.tickets.get(ticket_id)
            if ticket is not None:
                return ticket.chat_id
        directory = self._directory()
        who = directory.person(person)
        node = directory.nodes.get(who.node) if who and who.node else None
        if node is not None and node.chat_id:
            return node.chat_id
        if ticket_id is None and command(text) not in (Route.MY_TICKETS, Route.MY_POINTS):
            return None
        chats: Iterable[str | None] = (directory.nodes[grid].chat_id for grid in directory.grids_served(person))
        if command(text) is Route.MY_POINTS:  # staff points are one account: any grid's chat carries the answer
            chats = chain(chats, (n.chat_id for n in directory.nodes.values()))
        return next((chat for chat in chats if chat), None)

    async def _link(self, userid: str, raw: str) -> str:
        """`/iam CODE` to the app (one to one): the WeCom user is the code's person (once per code)."""
        code = self._codes.read(Purpose.IAM, raw)
        if code is None or self._directory().person(code.subject) is None:
            return TEXTS["bad_code"]

        async def link(uow: UnitOfWork) -> None:
            await uow.channels.link_person(CHANNEL, userid, code.subject)

        if not await redeem(self._uow, self._codes, code, link):
            return TEXTS["spent"]
        return TEXTS["linked"]

    async def _person(self, userid: str) -> str | None:
        async with self._uow() as uow:
            linked = await uow.channels.person_of(CHANNEL, userid)
        if linked:
            return linked
        return userid if self._directory().person(userid) is not None else None  # same ids in WeCom and here

    # --------------------------------------------------------------------- outbound

    name = CHANNEL
    private_lines = False

    async def reaches(self, uow: UnitOfWork, message: StoredMessage) -> bool:
        if message.person_id and not self._agent_id:
            return False  # no app configured: pings stay in the web inbox
        return await self._target(uow, message) is not None

    async def send(self, message: StoredMessage) -> None:
        """Staff pings as app messages; group posts into the bound appchat, else the group robot."""
        if message.person_id and not self._agent_id:
            return
        async with self._uow() as uow:
            target = await self._target(uow, message)
            ref = _webhook_ref(target[1]) if target and target[0] == WEBHOOK else (target[1] if target else "")
            if target is None or await uow.channels.external_message(CHANNEL, ref, message.id):
                return  # nowhere to go, or it went out before
        kind, to = target
        if kind == WEBHOOK:
            await self._webhook(to, ref, message.text)
        elif message.person_id:
            body = {"touser": to, "agentid": self._agent_id, "msgtype": "text", "text": {"content": message.text}}
            await self._post("/cgi-bin/message/send", body)
        else:
            await self._post(
                "/cgi-bin/appchat/send", {"chatid": to, "msgtype": "text", "text": {"content": message.text}}
            )
        async with self._uow() as uow:
            await uow.channels.remember(CHANNEL, ref, f"out-{message.id}", message.id)

    async def send_file(self, message: StoredMessage, name: str, data: bytes) -> None:
        """The post, then the file (the monthly bulletin's PDF): uploaded as temporary media (type
        file, kept 3 days) and sent as a file message to the same person or appchat (a group
        robot gets the text only)."""
        if message.person_id and not self._agent_id:
            return
        await self.send(message)
        async with self._uow() as uow:
            target = await self._target(uow, message)
            if target is None or target[0] == WEBHOOK:
                return  # nowhere to go, or a robot (text only)
            if message.id in await uow.channels.marked(CHANNEL, target[1], f"file-{message.id}"):
                return  # the file went out before
        kind, to = target
        media_id = await self._upload(name, data)
        file = {"msgtype": "file", "file": {"media_id": media_id}}
        if kind == APPCHAT:
            await self._post("/cgi-bin/appchat/send", {"chatid": to, **file})
        else:
            await self._post("/cgi-bin/message/send", {"touser": to, "agentid": self._agent_id, **file})
        async with self._uow() as uow:
            await uow.channels.remember(CHANNEL, to, f"file-{message.id}", message.id)

    async def _upload(self, name: str, data: bytes, retried: bool = False) -> str:
        try:
            token = await self._access.get()
            files = {"media": (name, data, "application/pdf")}
            response = await self._http.post("/cgi-bin/media/upload", params={"access_token": token, "type": "file"},
                                             files=files)  # fmt: skip
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChannelError(f"wecom unreachable: {exc!r}") from exc
        code = int(answer.get("errcode") or 0)
        if code in (40014, 42001) and not retried:
            await self._access.rejected(token)
            return await self._upload(name, data, retried=True)
        if code or not answer.get("media_id"):
            raise ChannelError(f"wecom refused the upload: {answer}")
        return str(answer["media_id"])

    async def _target(self, uow: UnitOfWork, message: StoredMessage) -> tuple[str, str] | None:
        """(how, to whom): a staff member's WeCom id (linked, or the same id as ours when nothing is
        linked); for a group post the appchat bound to its group, else its group robot."""
        if message.person_id:
            preferred = await uow.channels.preferred_channel(message.person_id)
            if preferred not in (None, CHANNEL):
                return None  # linked elsewhere more recently: their pings go there
            target = await uow.channels.external_person(CHANNEL, message.person_id)
            if target is None and preferred is None and self._directory().person(message.person_id) is not None:
                target = message.person_id  # same ids in WeCom and here, and no channel linked
            return ("app", target) if target else None
        chats = await uow.channels.external_chats(APPCHAT, message.chat_id or "")
        if chats:
            return APPCHAT, chats[0]
        robots = await uow.channels.external_chats(WEBHOOK, message.chat_id or "")
        if not robots or await self._answered_passively(uow, message):
            return None
        return WEBHOOK, robots[0]

    @staticmethod
    async def _answered_passively(uow: UnitOfWork, message: StoredMessage) -> bool:
        """A group post that answers an @-mention of the AI bot was its passive reply, in that group."""
        cause = await uow.messages.get(message.cause_id) if message.cause_id else None
        return cause is not None and cause.channel == CHANNEL and (cause.client_id or "").startswith(AIBOT_PREFIX)

    async def _webhook(self, key: str, ref: str, text: str) -> None:
        """One text post through a group robot, inside its 20 messages a minute (else `Wait`)."""
        pause = await self._slots.take(ref)
        if pause > 0:
            raise Wait(self._now() + timedelta(seconds=pause), f"group robot {ref}: 20 messages a minute")
        body = {"msgtype": "text", "text": {"content": _cut(text, WEBHOOK_MAX_BYTES)}}
        try:
            data = (await self._http.post("/cgi-bin/webhook/send", params={"key": key}, json=body)).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChannelError(f"wecom group robot {ref} unreachable: {exc!r}") from exc
        code = int(data.get("errcode") or 0)
        if code == 45009:  # over the limit after all (another sender on the same robot)
            raise Wait(self._now() + timedelta(seconds=60), f"group robot {ref}: over its limit")
        if code:
            raise ChannelError(f"wecom group robot {ref} refused: {data.get('errcode')} {data.get('errmsg')}")

    async def _post(self, path: str, body: dict[str, Any], retried: bool = False) -> None:
        try:
            token = await self._access.get()
            data = (await self._http.post(path, params={"access_token": token}, json=body)).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChannelError(f"wecom unreachable: {exc!r}") from exc
        code = int(data.get("errcode") or 0)
        if code in (40014, 42001) and not retried:
            await self._access.rejected(token)
            await self._post(path, body, retried=True)
        elif code:
            raise ChannelError(f"wecom refused {path}: {data}")

    async def _fetch_token(self) -> tuple[str, int]:
        if not self._app_secret:
            raise ChannelError("GRIDBOT_WECOM_SECRET is not set: no app messages")
        data = (await self._http.get("/cgi-bin/gettoken", params={"corpid": self._corp_id,
                                                                  "corpsecret": self._app_secret})).json()  # fmt: skip
        if "access_token" not in data:
            raise ChannelError(f"wecom token refused: {data}")
        return str(data["access_token"]), int(data.get("expires_in", 7200))


def _stream(text: str) -> dict[str, Any]:
    return {"msgtype": "stream", "stream": {"id": uuid.uuid4().hex, "finish": True, "content": text}}


def _button_card(reply: Reply, buttons: tuple[Button, ...], text: str) -> dict[str, Any]:
    """A `button_interaction` card: the answer and its case's buttons; each key names the command."""
    assert reply.ticket_id is not None
    tid = reply.ticket_id
    return {"msgtype": "template_card", "template_card": {
        "card_type": "button_interaction", "main_title": {"title": f"工单 #{tid}"}, "sub_title_text": text,
        "task_id": f"gb-{reply.message_id}-{uuid.uuid4().hex[:8]}",
        "button_list": [{"text": b.label, "style": 1, "key": b.key(tid)} for b in buttons],
    }}  # fmt: skip


def _strip_mention(text: str) -> str:
    """`@网格通 3号楼漏水了` → `3号楼漏水了` (the AI bot receives the @ in the text)."""
    text = text.strip()
    while text.startswith("@"):
        _, _, text = text.partition(" ")
        text = text.strip()
    return text


def build_router(gateway: WecomGateway) -> APIRouter:
    router = APIRouter()

    async def verify_url(request: Request, receive_id: str) -> PlainTextResponse:
        params = dict(request.query_params)
        return PlainTextResponse(gateway.open(params, params.get("echostr", ""), receive_id))

    @router.get("/wecom/aibot", include_in_schema=False)
    async def aibot_verify(request: Request) -> PlainTextResponse:
        return await verify_url(request, "")

    @router.get("/wecom/app", include_in_schema=False)
    async def app_verify(request: Request) -> PlainTextResponse:
        return await verify_url(request, gateway.corp_id)

    @router.post("/wecom/aibot", include_in_schema=False)
    async def aibot(request: Request) -> Response:
        return await gateway.aibot(dict(request.query_params), await request.body())

    @router.post("/wecom/app", include_in_schema=False)
    async def app(request: Request) -> Response:
        return await gateway.app(dict(request.query_params), await request.body())

    return router
