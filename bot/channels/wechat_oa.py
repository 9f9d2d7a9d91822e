"""The WeChat Official Account (公众号): a resident's one-to-one line to their micro-grid (werobot).

- A QR code per micro-grid (`run_bot.py wechat-qr yg-1`) carries the chat id as its scene; the
  subscribe/SCAN event binds the resident (openid) to that grid.
- Callbacks are checked before anything is parsed: signature (token), a timestamp inside
  `GRIDBOT_REPLAY_WINDOW_S`, and in safe mode the message signature and AES (werobot's
  MessageCrypt). With an EncodingAESKey configured only safe mode is accepted: the plain signature
  covers the timestamp and nonce but not the body, so plain XML is what a forger would send. A
  (timestamp, nonce) that comes back with another body is refused (`bot/replay.py`). XML with a
  DTD or entities (expansion, external entities) is refused with 400 (defusedxml) before werobot
  sees it.
- WeChat waits 5 s and retries 3 times: the MsgId is the client id, so retries dedupe. An answer
  ready within `PASSIVE_BUDGET_S` is the passive reply; otherwise `success`, and the answer goes
  out later through the customer-service API.
- Later status (处理好了, 请评价 …) reaches the resident through the customer-service API while
  their window is open (5 messages within 48 h of their last message); beyond it the messages wait
  and are delivered with the passive reply to their next message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from werobot.crypto import MessageCrypt
from werobot.exceptions import ConfigError
from werobot.parser import parse_xml, process_message
from werobot.utils import check_signature, get_signature

from bot.channels.xmlreply import xml_message
from bot.errors import ApiError
from bot.inputs import external_id
from bot.messages import Attachment, AttachmentKind, Handle, Handled, InboundMessage
from bot.outbox import ChannelError, Wait
from bot.replay import NonceStore, ReplayGuard
from bot.tokens import AccessToken, MemoryTokenStore, TokenStore
from tickets.ports import StoredMessage, UnitOfWork, UnitOfWorkFactory
from tickets.texts import Text

log = logging.getLogger(__name__)
CHANNEL = "wechat"
PASSIVE_BUDGET_S = 4.0  # WeChat gives 5 s; leave room for the network
WINDOW_LIMIT, WINDOW_S = 5, 48 * 3600
MAX_XML = 64 * 1024
TEXTS = {
    "welcome": "欢迎关注！您已加入{grid}。有垃圾、漏水、路灯、噪音等问题，直接发文字、照片或位置给我就行。",
    "unbound": "您好！请先扫描您所在微网格的二维码关注，再反映问题。",
    "unsupported": "暂时只能处理文字、照片和位置，语音请转成文字发送，谢谢！",
}
# Group posts a resident is told about their case (never a refusal meant for a worker).
RESIDENT_TEMPLATES = frozenset({
    Text.TICKET_OPENED, Text.TICKET_OPENED_UNLOCATED, Text.URGENT_OPENED, Text.ASK_LOCATION, Text.TICKET_FOLLOWED,
    Text.TICKET_SUPPLEMENTED, Text.TICKET_ACCEPTED, Text.TICKET_PROGRESS, Text.TICKET_RESOLVED, Text.TICKET_CONFIRMED,
    Text.TICKET_RATED, Text.TICKET_REOPENED, Text.TICKET_CANCELLED, Text.TICKET_AUTO_CLOSED, Text.TICKET_WHISTLED,
    Text.TICKET_REPORTED_IN, Text.TICKET_SUSPENDED, Text.TICKET_RESUMED, Text.CONSULT_FORWARDED, Text.CONSULT_ANSWERED,
    Text.URGENT_OPENED_UNLOCATED, Text.ASK_REPORT_TYPE, Text.TICKETS_OPENED_MANY,
})  # fmt: skip


def resident_id(openid: str) -> str:
    """A stable id for an Official Account resident: `微信用户1a2b#wx<digits>` (shown as 微信用户1a2b)."""
    digits = int(hashlib.sha1(openid.encode()).hexdigest()[:12], 16)
    return f"微信用户{openid[-4:]}#wx{digits}"


async def _not_attached(message: InboundMessage) -> Handled:
    raise RuntimeError("the WeChat gateway has no dispatcher attached")


class WechatGateway:
    def __init__(
        self, *, app_id: str, token: str, aes_key: str | None, app_secret: str | None, api_base: str,
        uow: UnitOfWorkFactory, grid_name: Callable[[str], str | None], replay_window_s: int,
        max_text: int = 2000, now: Callable[[], datetime] = lambda: datetime.now(UTC),
        tokens: TokenStore | None = None, handle: Handle = _not_attached, nonces: NonceStore | None = None,
    ) -> None:  # fmt: skip
        self._app_id = app_id
        self._token = token
        self._crypt = MessageCrypt(token, aes_key, app_id) if aes_key else None
        self._app_secret = app_secret
        self._http = httpx.AsyncClient(base_url=api_base.rstrip("/"), timeout=5)
        self._uow = uow
        self._grid_name = grid_name
        self._replay_window_s = replay_window_s
        self._replay = ReplayGuard(f"wechat:{app_id}", replay_window_s, nonces)
        self._max_text = max_text
        self._now = now
        self._handle = handle
        self._access = AccessToken(f"wechat:{app_id}", self._fetch_token, tokens or MemoryTokenStore())

    # -------------------------------------------------------------------------- checks

    def check(self, params: dict[str, str]) -> None:
        timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
        if not check_signature(self._token, timestamp, nonce, params.get("signature", "")):
            raise ApiError(403, "签名错误 / bad signature")
        if self._replay_window_s and (
            not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self._replay_window_s
        ):
            raise ApiError(403, "请求已过期 / timestamp outside the replay window")

    async def admit(self, params: dict[str, str], body: bytes) -> tuple[str, bool]:
        """Everything a POST callback must pass before it is read: signature and timestamp, the
        body (safe mode when an AES key is set), a nonce not seen with another body. The XML."""
        self.check(params)
        xml, encrypted = self.plaintext(params, body)
        await self._replay.admit(params.get("timestamp", ""), params.get("nonce", ""), body)
        return xml, encrypted

    def plaintext(self, params: dict[str, str], body: bytes) -> tuple[str, bool]:
        """The callback's XML as text, decrypted in safe mode; hostile or broken XML is refused.
        With an AES key configured the body must be encrypted under a valid msg_signature."""
        root = safe_xml(body)
        encrypted = root.find("Encrypt")
        if self._crypt is None:
            if params.get("encrypt_type") == "aes" or encrypted is not None:
                raise ApiError(400, "加密消息无法处理 / encrypted message without AES key")
            return body.decode("utf-8"), False
        if encrypted is None or not encrypted.text or not params.get("msg_signature"):
            raise ApiError(403, "安全模式只接受加密消息 / safe mode: an encrypted body with msg_signature is required")
        signature = get_signature(self._token, params.get("timestamp", ""), params.get("nonce", ""), encrypted.text)
        if not hmac.compare_digest(signature.encode(), params["msg_signature"].encode()):
            raise ApiError(403, "消息签名错误 / bad msg_signature")
        try:
            xml = self._crypt.prp_crypto.decrypt(encrypted.text, self._app_id)
        except Exception as exc:  # wrong key, bad padding, another app's message
            raise ApiError(403, "消息解密失败 / cannot decrypt") from exc
        text = xml.decode("utf-8") if isinstance(xml, bytes) else str(xml)
        safe_xml(text.encode("utf-8"))
        return text, True

    # ------------------------------------------------------------------------- inbound

    async def handle(self, xml: str) -> str | None:
        """The passive reply text for one callback (None: answer `success`)."""
        try:
            message = process_message(parse_xml(xml))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:  # e.g. an empty <MsgType/>
            raise ApiError(400, "消息格式错误 / malformed message") from exc
        openid = external_id(message.source, "FromUserName")  # 400 when missing or too long for its column
        kind = message.type
        if kind in ("subscribe_event", "scan_event"):
            return await self._bind(openid, str(getattr(message, "key", "") or ""))
        if kind.endswith("_event"):
            return None  # unsubscribe, menu clicks, location reports …: nothing to say
        async with self._uow() as uow:
            chat_id = await uow.channels.chat_of(CHANNEL, openid)
            if chat_id is not None:
                await uow.channels.open_window(CHANNEL, openid, self._now())
                await uow.channels.link_person(CHANNEL, openid, resident_id(openid))
        if chat_id is None:
            return TEXTS["unbound"]
        inbound = self._inbound(message, chat_id, openid)
        if inbound is None:
            return TEXTS["unsupported"]
        return await self._answer(inbound, openid)

    def _inbound(self, message: Any, chat_id: str, openid: str) -> InboundMessage | None:
        text, attachments = "", []
        if message.type == "text":
            text = str(message.content or "")
        elif message.type == "voice" and getattr(message, "recognition", None):
            text = str(message.recognition)  # WeChat's own speech-to-text, when it is switched on
        elif message.type == "image":
            attachments.append(Attachment(AttachmentKind.IMAGE, str(message.img or "")))
        elif message.type == "location":
            attachments.append(Attachment(AttachmentKind.LOCATION, lat=message.location_x, lng=message.location_y,
                                          label=str(message.label or "")))  # fmt: skip
        if not text.strip() and not attachments:
            return None
        client_id = f"oa-{message.message_id}" if message.message_id else f"oa-{openid}-{message.time}"
        # One to one: routed through the grid's chat, never shown in the group's transcript.
        return InboundMessage(chat_id, resident_id(openid), text[: self._max_text], None, client_id, CHANNEL,
                              tuple(attachments), private=True)  # fmt: skip

    async def _answer(self, inbound: InboundMessage, openid: str) -> str | None:
        task = asyncio.ensure_future(self._handle(inbound))
        try:
            handled = await asyncio.wait_for(asyncio.shield(task), PASSIVE_BUDGET_S)
        except TimeoutError:
            log.info("wechat %s: not answered within %.1f s; replying later", openid[-4:], PASSIVE_BUDGET_S)
            return None
        async with self._uow() as uow:
            held = await uow.channels.marked(CHANNEL, openid, "held-")
            texts = [m.text for m in [await uow.messages.get(i) for i in held] if m is not None]
            for message_id in held:
                await uow.channels.forget(CHANNEL, openid, f"held-{message_id}")
            for reply in handled.replies:
                await uow.channels.remember(CHANNEL, openid, f"out-{reply.message_id}", reply.message_id)
        texts += [r.text for r in handled.replies]
        return "\n\n".join(texts) or None

    async def _bind(self, openid: str, key: str) -> str:
        chat_id = key.removeprefix("qrscene_")
        grid = self._grid_name(chat_id) if chat_id else None
        if grid is None:
            return TEXTS["unbound"]
        async with self._uow() as uow:
            await uow.channels.bind_chat(CHANNEL, openid, chat_id)
            await uow.channels.link_person(CHANNEL, openid, resident_id(openid))
            await uow.channels.open_window(CHANNEL, openid, self._now())
        return TEXTS["welcome"].format(grid=grid)

    def reply(self, xml: str, text: str | None, encrypted: bool, params: dict[str, str]) -> Response:
        """The passive reply: a text message (built by `xml_message`, so any text round-trips),
        in safe mode sealed in its encrypted envelope."""
        if not text:
            return PlainTextResponse("success")
        message = process_message(parse_xml(xml))
        body = xml_message([
            ("ToUserName", str(message.source)), ("FromUserName", str(message.target)),
            ("CreateTime", int(time.time())), ("MsgType", "text"), ("Content", text),
        ])  # fmt: skip
        if encrypted and self._crypt is not None:
            body = self._seal(body, params)
        return Response(body, media_type="application/xml")

    def _seal(self, body: str, params: dict[str, str]) -> str:
        assert self._crypt is not None
        sealed = self._crypt.prp_crypto.encrypt(body, self._app_id)
        encrypt = sealed.decode() if isinstance(sealed, bytes) else str(sealed)
        timestamp, nonce = params.get("timestamp") or str(int(time.time())), params.get("nonce") or "n"
        signature = get_signature(self._token, timestamp, nonce, encrypt)
        stamp: str | int = int(timestamp) if timestamp.isdigit() else timestamp
        envelope: list[tuple[str, str | int]] = [("Encrypt", encrypt), ("MsgSignature", signature),
                                                 ("TimeStamp", stamp), ("Nonce", nonce)]  # fmt: skip
        return xml_message(envelope)

    # ------------------------------------------------------------------------ outbound

    name = CHANNEL
    private_lines = True

    async def reaches(self, uow: UnitOfWork, message: StoredMessage) -> bool:
        return bool(message.chat_id) and not message.person_id and bool(await self._targets(uow, message))

    async def send(self, message: StoredMessage) -> None:
        """Mirror a group post about a WeChat resident's case to them (customer-service API)."""
        if not message.chat_id or message.person_id:
            return
        async with self._uow() as uow:
            openids = await self._targets(uow, message)
        for openid in openids:
            await self._send_one(openid, message)

    async def _send_one(self, openid: str, message: StoredMessage) -> None:
        async with self._uow() as uow:
            if await uow.channels.external_message(CHANNEL, openid, message.id):
                return  # already went out as a passive reply (or before a retry)
            cause = await uow.messages.get(message.cause_id) if message.cause_id else None
            if cause is not None and cause.channel == CHANNEL:
                passive_until = cause.created_at + timedelta(seconds=PASSIVE_BUDGET_S + 2)
                if self._now() < passive_until:
                    raise Wait(passive_until, "waiting for the passive reply of this message")
            if not await uow.channels.use_window(CHANNEL, openid, self._now(), WINDOW_LIMIT, WINDOW_S):
                await uow.channels.remember(CHANNEL, openid, f"held-{message.id}", message.id)
                return  # the window is closed or used up: it goes with the next passive reply
        sent = await self._custom_send(openid, message.text)
        async with self._uow() as uow:
            mark = f"out-{message.id}" if sent else f"held-{message.id}"
            await uow.channels.remember(CHANNEL, openid, mark, message.id)

    async def _targets(self, uow: UnitOfWork, message: StoredMessage) -> list[str]:
        """The WeChat residents of the post's case (for resident-facing posts), and the WeChat
        resident whose message caused it (any answer to them, refusals included)."""
        residents: list[str] = []
        if message.ticket_id is not None and message.template in RESIDENT_TEMPLATES:
            ticket = await uow.tickets.get(message.ticket_id)
            residents = list(ticket.residents) if ticket else []
        cause = await uow.messages.get(message.cause_id) if message.cause_id else None
        if cause is not None and cause.channel == CHANNEL:
            residents.append(cause.sender)
        openids = []
        for resident in dict.fromkeys(r for r in residents if "#wx" in r):
            openid = await uow.channels.external_person(CHANNEL, resident)
            if openid:
                openids.append(openid)
        return openids

    async def _custom_send(self, openid: str, text: str, retried: bool = False) -> bool:
        """True when WeChat took it; False when the resident's window turned out closed (held)."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        try:
            token = await self._access.get()
            response = await self._http.post("/cgi-bin/message/custom/send", params={"access_token": token},
                                             json=body)  # fmt: skip
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChannelError(f"wechat unreachable: {exc!r}") from exc
        code = int(data.get("errcode") or 0)
        if code in (40001, 40014, 42001) and not retried:  # the token expired or was revoked
            await self._access.rejected(token)
            return await self._custom_send(openid, text, retried=True)
        if code in (45015, 45047):  # outside the 48 h window / over the quota after all
            log.info("wechat %s: window closed (%s); kept for the next interaction", openid[-4:], code)
            return False
        if code:
            raise ChannelError(f"wechat customer-service send failed: {data}")
        return True

    async def _fetch_token(self) -> tuple[str, int]:
        if not self._app_secret:
            raise ChannelError("GRIDBOT_WECHAT_APPSECRET is not set: no customer-service messages")
        response = await self._http.get("/cgi-bin/token", params={
            "grant_type": "client_credential", "appid": self._app_id, "secret": self._app_secret})  # fmt: skip
        data = response.json()
        if "access_token" not in data:
            raise ChannelError(f"wechat access token refused: {data}")
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def qr_code(self, chat_id: str) -> str:
        """A permanent QR code whose scene is the micro-grid's chat id: the URL of its image."""
        token = await self._access.get()
        body = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": chat_id}}}
        data = (await self._http.post("/cgi-bin/qrcode/create", params={"access_token": token}, json=body)).json()
        if "ticket" not in data:
            raise ChannelError(f"wechat QR code refused: {data}")
        return f"https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket={data['ticket']}"

    async def aclose(self) -> None:
        await self._http.aclose()


def utf8(body: bytes) -> bytes:
    """WeChat sends UTF-8, whatever an XML declaration may claim: any other encoding (UTF-16, GBK) is 400."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "消息须为 UTF-8 编码 / the body must be UTF-8") from exc
    return body


def safe_xml(body: bytes) -> Any:
    if len(body) > MAX_XML:
        raise ApiError(413)
    try:
        return fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, ParseError, ValueError) as exc:
        raise ApiError(400, "XML 格式错误或不安全 / malformed or unsafe XML") from exc


def build_router(gateway: WechatGateway) -> APIRouter:
    router = APIRouter()

    @router.get("/wechat/oa", include_in_schema=False)
    async def verify_url(request: Request) -> PlainTextResponse:
        params = dict(request.query_params)
        gateway.check(params)
        return PlainTextResponse(params.get("echostr", ""))

    @router.post("/wechat/oa", include_in_schema=False)
    async def callback(request: Request) -> Response:
        params = dict(request.query_params)
        xml, encrypted = await gateway.admit(params, utf8(await request.body()))
        try:
            text = await gateway.handle(xml)
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise ApiError(400, "无法识别的消息 / unreadable message") from exc
        return gateway.reply(xml, text, encrypted, params)

    return router
