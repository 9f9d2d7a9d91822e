"""The FastAPI application: API v1, the web chat channel, static files, JSON errors."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import api, errors, logs
from bot.channels import webchat
from bot.services import Services

MAX_BODY = 256 * 1024
BODY_LIMITS = {"/chat/api/media": webchat.MAX_MEDIA}  # photo uploads may be larger (and are streamed)


class BodyLimit:
    """Refuse oversized bodies before reading them (the 2,000-character text limit is checked later).
    Plain ASGI (not BaseHTTPMiddleware, which costs a task group per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"").decode("latin-1")
            limit = BODY_LIMITS.get(scope["path"], MAX_BODY)
            if length and (not length.isdigit() or int(length) > limit):
                await JSONResponse({"error": errors.MESSAGES[413]}, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(services: Services, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The app: API v1, the web chat, and `routers` (the admin web, the platforms' webhooks)."""
    app = FastAPI(title="gridbot", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json")
    errors.install(app)
    app.add_middleware(BodyLimit)
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
