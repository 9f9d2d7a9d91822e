"""The web chat channel: the /chat page and its JSON routes, authenticated by a signed chat token.

A token binds one sender to one chat: `base64(chat_id|sender).hmac`. In demo mode the page may
mint one for anyone (that is the demo); otherwise an admin hands out invitation links
(`python run_bot.py chat-link CHAT SENDER`). The key is the web chat's own (`chat_secret`): the
Telegram/WeCom link codes are signed with keys of their own (`bot/channels/codes.py`), so no code
is ever a chat token. Names that could pass for the bot, the system or another channel's resident
(`bot.messages.reserved_sender`) are never minted and never accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from bot.api import MAX_ATTACHMENTS, PAGE, AttachmentIn, dispatch, handled_json, message_json
from bot.errors import ApiError
from bot.inputs import Cursor, RowId
from bot.messages import BOT_SENDER, InboundMessage, reserved_sender, storable
from bot.services import Services
from tickets.directory import Role

ADMIN_DIR = Path(__file__).resolve().parents[2] / "admin"  # the web chat page and static files live there


class Session(BaseModel):
    chat_id: str
    sender: str


class ChatPost(BaseModel):
    text: str = ""
    reply_to: RowId | None = None
    client_id: str | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


MEDIA_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
MEDIA_TYPE_OF = {ext: mime for mime, ext in MEDIA_TYPES.items()}
MEDIA_HEADERS = {"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "default-src 'none'; sandbox"}  # fmt: skip
MAX_MEDIA = 5 * 1024 * 1024
MAX_TOKEN = 1024  # a chat token is ~100 characters; a longer one is not ours
_MEDIA_NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|webp|gif)$")


RESERVED_NAME = "这个名字是系统保留的，请换一个 / this name is reserved"


def chat_secret(api_token: str) -> bytes:
    """The key for chat tokens (web chat's own), derived from the API token so one secret rotates both.
    Unchanged since the link codes moved to keys of their own: invitation links already handed out
    keep working, while every code printed before (`@bind`/`@iam` senders) is refused as reserved."""
    return hashlib.sha256(b"webchat:" + api_token.encode()).digest()


def sign(secret: bytes, chat_id: str, sender: str) -> str:
    if reserved_sender(sender) or reserved_sender(chat_id):
        raise ValueError(f"{sender!r} in {chat_id!r}: reserved for the bot, the system or another channel")
    payload = base64.urlsafe_b64encode(f"{chat_id}\n{sender}".encode()).decode().rstrip("=")
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{payload}.{mac}"


def verify(secret: bytes, token: str | None) -> tuple[str, str]:
    payload, _, mac = (token or "").partition(".")
    expected = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()[:32]
    if not payload or not hmac.compare_digest(mac.encode(), expected.encode()):
        raise ApiError(401, "聊天令牌无效 / invalid chat token")
    chat_id, _, sender = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode().partition("\n")
    if reserved_sender(sender) or reserved_sender(chat_id):
        raise ApiError(401, "聊天令牌无效 / invalid chat token")  # e.g. a link code of the old shared-key format
    return chat_id, sender


def read_token(secret: bytes, token: str | None) -> tuple[str, str]:
    """`verify` for a token from outside (a header, a chat command): anything but a short ASCII string is
    an invalid token (401) before it reaches the HMAC comparison, which takes ASCII only; a token whose
    payload does not decode is invalid too."""
    if not token or len(token) > MAX_TOKEN or not token.isascii():
        raise ApiError(401, "聊天令牌无效 / invalid chat token")
    try:
        return verify(secret, token)
    except (TypeError, ValueError) as exc:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise ApiError(401, "聊天令牌无效 / invalid chat token") from exc


def build_router(services: Services) -> APIRouter:
    router = APIRouter()
    pages = Jinja2Templates(directory=str(ADMIN_DIR / "templates"))

    def whoami(token: str | None) -> tuple[str, str]:
        chat_id, sender = read_token(services.chat_secret, token)
        if services.directory().grid_for_chat(chat_id) is None:
            raise ApiError(404, "未知的群聊 / unknown chat")
        return chat_id, sender

    def identity(sender: str) -> dict[str, Any]:
        person = services.directory().person(sender)
        if person is None:
            return {"sender": sender, "name": sender, "role": "resident"}
        return {"sender": sender, "name": person.name, "role": person.role.value}

    @router.get("/chat", response_class=HTMLResponse)
    async def page(request: Request) -> HTMLResponse:
        return pages.TemplateResponse(request, "chat.html", {"demo": services.demo, "static_url": "/static"})

    @router.get("/chat/api/rooms")
    async def rooms(
        x_chat_token: Annotated[str | None, Header()] = None, authorization: Annotated[str | None, Header()] = None
    ) -> dict[str, Any]:
        """The picker's rooms and people. The demo (the page lets anyone speak as anyone) and holders
        of the API token get every micro-grid and staff member; an invited member (chat token) gets
        their own room and its grid workers, the names they meet in that chat anyway. Anyone else:
        401. The directory of every grid and every official's name and id is not public: it is a
        list of whom to impersonate or pester."""
        if services.demo or _api_token_ok(services.api_token, authorization):
            return _rooms(services)
        if not x_chat_token:
            raise ApiError(401, "需要邀请链接 / an invitation link (chat token) is needed")
        chat_id, _ = whoami(x_chat_token)
        return _rooms(services, only=chat_id)

    @router.post("/chat/api/session")
    async def session(body: Session) -> dict[str, Any]:
        if not services.demo:
            raise ApiError(403, "需要邀请链接才能加入群聊 / an invitation link is needed (demo mode is off)")
        sender = storable(body.sender).strip()[:64]
        if services.directory().grid_for_chat(body.chat_id) is None:
            raise ApiError(404, "未知的群聊 / unknown chat")
        if not sender:
            raise ApiError(422, "请填写名字 / a name is needed")
        if reserved_sender(sender):
            raise ApiError(422, RESERVED_NAME)
        return {"token": sign(services.chat_secret, body.chat_id, sender), **identity(sender)}

    @router.get("/chat/api/me")
    async def me(x_chat_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        chat_id, sender = whoami(x_chat_token)
        grid = services.directory().grid_for_chat(chat_id)
        chat_name = grid.name if grid else chat_id
        return {"token": x_chat_token, "chat_id": chat_id, "chat_name": chat_name, **identity(sender)}

    @router.get("/chat/api/messages")
    async def transcript(after: Cursor = 0, x_chat_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        chat_id, sender = whoami(x_chat_token)
        async with services.uow() as uow:
            rows = await uow.messages.chat(chat_id, after, PAGE)
        return {"messages": [_decorate(services, message_json(m), sender) for m in rows]}

    @router.post("/chat/api/messages", status_code=201)
    async def post(body: ChatPost, x_chat_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        chat_id, sender = whoami(x_chat_token)
        client_id = body.client_id or uuid.uuid4().hex
        attachments = tuple(a.to_attachment() for a in body.attachments)
        message = InboundMessage(chat_id, sender, body.text, body.reply_to, client_id, attachments=attachments)
        return handled_json(await dispatch(services, message))

    @router.post("/chat/api/media", status_code=201)
    async def upload(
        request: Request,
        content_type: Annotated[str | None, Header()] = None,
        x_chat_token: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """A photo for the chat, as the raw body (JPEG, PNG, WebP or GIF, up to 5 MB). What it is comes
        from its first bytes, not from what the client declares: anything else is 415 (an HTML page
        labelled image/png is not stored). Each token has a quota (`MediaQuota`): every attempt counts
        against its photos before the body is read, the bytes of each image against its volume; past
        either, 429."""
        chat_id, sender = whoami(x_chat_token)
        declared = MEDIA_TYPES.get((content_type or "").split(";")[0].strip())
        if declared is None or services.media_dir is None:
            raise ApiError(415 if declared is None else 503, "只能上传 JPG/PNG/WebP/GIF 图片 / images only")
        quota, key = services.media_quota, _quota_key(chat_id, sender)
        await _spend(services, "media-count", key, 1, quota.count)
        data = await _read_limited(request, MAX_MEDIA)
        ext = image_type(data)
        if ext is None:
            raise ApiError(415, "文件内容不是 JPG/PNG/WebP/GIF 图片 / the content is not an image")
        await _spend(services, "media-bytes", key, len(data), quota.bytes)
        name = f"{hashlib.sha256(data).hexdigest()[:32]}.{ext}"
        services.media_dir.mkdir(parents=True, exist_ok=True)
        (services.media_dir / name).write_bytes(data)
        return {"url": f"/chat/media/{name}"}

    @router.get("/chat/media/{name}")
    async def media(name: str) -> FileResponse:
        """A stored photo, as the image type of its name (checked when it was stored), never sniffed and
        never run as a page (a sandboxing policy of its own)."""
        if not _MEDIA_NAME.match(name) or services.media_dir is None or not (services.media_dir / name).is_file():
            raise ApiError(404)
        return FileResponse(services.media_dir / name, media_type=MEDIA_TYPE_OF[name.rsplit(".", 1)[1]],
                            headers=MEDIA_HEADERS)  # fmt: skip

    @router.get("/chat/api/inbox")
    async def inbox(after: Cursor = 0, x_chat_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        _, sender = whoami(x_chat_token)
        if services.directory().person(sender) is None:
            return {"messages": []}
        async with services.uow() as uow:
            rows = await uow.messages.inbox(sender, after, PAGE)
        return {"messages": [_decorate(services, message_json(m), sender) for m in rows]}

    return router


def _api_token_ok(api_token: str, authorization: str | None) -> bool:
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(token.encode(), api_token.encode())


def _rooms(services: Services, only: str | None = None) -> dict[str, Any]:
    """Every micro-grid with a chat and every staff member; with `only`, that chat's room alone and no staff."""
    d = services.directory()
    grids = [n for n in d.nodes.values() if n.chat_id and (only is None or n.chat_id == only)]
    staff = [p for p in d.people.values() if p.role is not Role.WORKER] if only is None else []
    return {
        "demo": services.demo,
        "rooms": [
            {
                "chat_id": g.chat_id,
                "name": g.name,
                "path": " / ".join(n.name for n in reversed(d.chain(g.id)[1:])),
                "members": [{"id": w.id, "name": w.name, "role": "worker"} for w in d.workers_of(g.id)],
            }
            for g in grids
        ],
        "staff": [{"id": p.id, "name": p.name, "role": p.role.value, "node": p.node} for p in staff],
    }


def image_type(data: bytes) -> str | None:
    """The file extension of a JPEG, PNG, GIF or WebP image, from its first bytes; None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _quota_key(chat_id: str, sender: str) -> str:
    """One token's quota key (a digest: chat id and sender may be longer together than the column)."""
    return hashlib.sha256(f"{chat_id}\n{sender}".encode()).hexdigest()


async def _spend(services: Services, what: str, key: str, amount: int, limit: int) -> None:
    if not limit:
        return
    async with services.uow() as uow:
        taken = await uow.channels.use_quota(what, key, datetime.now(UTC), amount, limit, services.media_quota.span_s)
    if not taken:
        raise ApiError(429, "今天上传的照片已达上限，请明天再试 / upload quota used up, try again tomorrow")


async def _read_limited(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "图片不能超过 5 MB / image larger than 5 MB")
        chunks.append(chunk)
    if not size:
        raise ApiError(422, "空文件 / empty upload")
    return b"".join(chunks)


def _decorate(services: Services, row: dict[str, Any], me: str) -> dict[str, Any]:
    person = services.directory().person(row["sender"])
    bot = row["sender"] == BOT_SENDER
    name = "网格通机器人" if bot else (person.name if person else row["sender"])
    return {**row, "sender_name": name, "mine": row["sender"] == me, "bot": bot}
