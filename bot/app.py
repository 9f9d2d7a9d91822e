"""The FastAPI application: API v1, the web chat channel, static files, JSON errors, and the HTTP edge's
guards (body size, URLs, security headers) as plain ASGI middleware."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import api, errors, logs
from bot.channels import webchat
from bot.fastpath import MessageFastPath
from bot.services import Services

log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024
BODY_LIMITS = {"/chat/api/media": webchat.MAX_MEDIA}  # photo uploads may be larger (and are streamed)

# Every page and script is ours, from /static: no inline script or style, no other origin, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's API docs load Swagger UI / ReDoc from jsDelivr and start them with an inline script. They
# show only our own OpenAPI document (no user content), so they get a policy of their own.
DOCS_CSP = (
    "default-src 'none'; script-src 'self' https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net https://fonts.googleapis.com 'unsafe-inline'; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "connect-src 'self'; worker-src blob:; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
DOCS_PATHS = frozenset({"/api/docs", "/docs/oauth2-redirect", "/redoc"})
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # invitation links carry the chat token in their query
)


class BodyTooLarge(Exception):
    """Raised out of `receive` once a body has passed its limit (the 413 has already been sent)."""


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int) -> None:
    await JSONResponse({"error": errors.MESSAGES[status]}, status_code=status)(scope, receive, send)


class BodyLimit:
    """Refuse oversized bodies, counted as they arrive: a `Content-Length` over the limit is refused at
    once; a chunked body (no length) is counted chunk by chunk and refused the moment it passes the
    limit, so no route ever holds more than its limit in memory (the server discards the rest). The
    limit is per path (`limits`, else `MAX_BODY`). Once the app has begun its answer it is no longer
    reading a request to act on (Starlette's file and streaming answers read on only to notice a
    disconnect, and discard), so the count stops there. The 2,000-character text limit is checked later.
    Plain ASGI (not BaseHTTPMiddleware, which costs a task group per request)."""

    def __init__(self, app: ASGIApp, limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limits = {**BODY_LIMITS, **(limits or {})}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], MAX_BODY)
        length = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
        if length and (not length.isdigit() or int(length) > limit):
            await _refuse(scope, receive, send, 413)
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received, started, refused = 0, False, False

        async def counting() -> Message:
            nonlocal received, refused
            if refused:
                raise BodyTooLarge  # asked again after the refusal: still refused, and answered only once
            message = await receive()
            if message["type"] == "http.request" and not started:
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    await _refuse(scope, receive, send, 413)
                    raise BodyTooLarge
            return message

        async def watching(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the app's own answer to the broken read (often a 400): the 413 went out
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting, watching)
        except Exception:
            if not refused:
                raise
            log.debug("body over %d bytes refused on %s", limit, scope["path"], exc_info=True)


class UrlGuard:
    """A NUL (`%00`) in the path or query is never meant: 400 before any route sees it (PostgreSQL
    refuses NUL in text, so it would otherwise fail deep inside a query)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            await _refuse(scope, receive, send, 400)
            return
        await self.app(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    raw = bytes(scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape"))
    query = bytes(scope.get("query_string") or b"")
    return any(b"\x00" in part or b"%00" in part.lower() for part in (raw, query)) or "\x00" in scope["path"]


class SecurityHeaders:
    """`Content-Security-Policy`, `X-Frame-Options`, `X-Content-Type-Options: nosniff` and
    `Referrer-Policy` on every response (pages, JSON, files, errors); a header a route set itself is kept.
    Plain ASGI, in the style of `BodyLimit`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope["path"] in DOCS_PATHS else CSP).encode("latin-1")
        wanted = ((b"content-security-policy", csp), *SECURITY_HEADERS)

        async def adding(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [(k, v) for k, v in wanted if k not in present]
            await send(message)

        await self.app(scope, receive, adding)


def create_app(
    services: Services, routers: Sequence[APIRouter] = (), body_limits: Mapping[str, int] | None = None
) -> FastAPI:
    """The app: API v1, the web chat, and `routers` (the admin web, the platforms' webhooks);
    `body_limits`: paths whose bodies may be larger than `MAX_BODY` (the admin's directory upload)."""
    app = FastAPI(title="gridbot", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json")
    errors.install(app)
    app.add_middleware(MessageFastPath, services=services)  # innermost: inside every guard below
    app.add_middleware(BodyLimit, limits=body_limits)
    app.add_middleware(UrlGuard)
    app.add_middleware(SecurityHeaders)  # outside the guards: their refusals carry the headers too
    app.add_middleware(logs.RequestIds)
    app.include_router(api.build_router(services))
    app.include_router(webchat.build_router(services))
    for router in routers:
        app.include_router(router)
    app.add_api_route("/healthz", api.health_route(services), methods=["GET"])
    app.add_api_route("/readyz", api.readiness_route(services), methods=["GET"])
    app.add_api_route("/metrics", api.metrics_route(services), methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=str(webchat.ADMIN_DIR / "static")), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/chat")

    return app
