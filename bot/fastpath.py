"""The hot path of the HTTP API without FastAPI's machinery.

`POST /api/v1/chats/{chat_id}/messages` is what every channel's traffic comes down to in load
tests and most of what the API serves. FastAPI's routing, dependency solving and validation
layers cost about 0.19 ms of CPU per request over a plain ASGI answer (0.33 against 0.15 ms,
measured with the same uvicorn, 2026-12-07), a tenth of the bot's whole handling of a message.

`MessageFastPath` sits just outside FastAPI's router, inside the HTTP edge's guards (body limit,
URL guard, security headers, request ids, which apply to it as to every route). It answers a
request only when it passes every check the route makes (the API token, a body that is a valid
`PostMessage`, a message `dispatch` accepts), with the route's own code (`answer_message`).
Anything else (no or a wrong token, malformed JSON, a refused message) goes on to the FastAPI
route with the body replayed, which answers it exactly as before: one place for every error.
A refusal is always decided before anything is stored, so replaying it is safe.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api import PostMessage, answer_message, authorised
from bot.errors import ApiError
from bot.services import Services

PATH = re.compile(r"^/api/v1/chats/([^/]+)/messages$")  # the route's `{chat_id}` (a path segment)


class MessageFastPath:
    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = PATH.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        body, ended = await _read(receive)
        replay = _replaying(body, ended, receive)
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode("latin-1")
        if not ended or not _json(headers.get(b"content-type")) or not authorised(self.services, token):
            await self.app(scope, replay, send)
            return
        try:
            message = PostMessage.model_validate_json(body)
            response = await answer_message(self.services, match[1], message)
        except (ValidationError, ApiError):  # refused before anything was stored: the route answers
            await self.app(scope, replay, send)
            return
        await response(scope, replay, send)


def _json(content_type: bytes | None) -> bool:
    """What FastAPI reads a body as JSON for: no content type, or a JSON one (`…/json`, `…+json`)."""
    if content_type is None:
        return True
    subtype = content_type.decode("latin-1").split(";", 1)[0].strip().lower().rpartition("/")[2]
    return subtype == "json" or subtype.endswith("+json")


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The whole body (the body limit outside counts it), and whether it ended (not a disconnect)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replaying(body: bytes, ended: bool, receive: Receive) -> Receive:
    """A `receive` that gives the body read already, then what the server sends next."""
    given = False

    async def again() -> Message:
        nonlocal given
        if not given:
            given = True
            if ended:
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}
        return await receive()

    return again
