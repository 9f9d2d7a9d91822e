"""The HTTP edge's plain ASGI guards (`bot.app`): bodies counted as they arrive, NUL in URLs, security
headers, and pages that need nothing the Content-Security-Policy refuses. The guards are driven at the
ASGI level with a body that arrives in chunks and no `Content-Length`, as a chunked upload does, so the
test sees how much of it the app pulled."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from pydantic import BaseModel

from bot import errors
from bot.app import CSP, MAX_BODY, BodyLimit, SecurityHeaders, UrlGuard

TEMPLATES = Path(__file__).resolve().parents[2] / "admin" / "templates"
CHUNK = 64 * 1024
CHUNKS = 200  # 12.8 MB offered, 50 times the default limit


class Body(BaseModel):
    text: str = ""


def inner_app() -> FastAPI:
    """Routes that read a body each way the real ones do: a model, the raw bytes, a form, a stream."""
    app = FastAPI()
    errors.install(app)

    @app.post("/model")
    async def model(body: Body) -> dict[str, Any]:
        return {"ok": True}

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, Any]:
        return {"size": len(await request.body())}

    @app.post("/form")
    async def form(request: Request) -> dict[str, Any]:
        return {"fields": len(await request.form())}

    @app.post("/stream")
    async def stream(request: Request) -> dict[str, Any]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @app.post("/stubborn")
    async def stubborn(request: Request) -> dict[str, Any]:
        """Reads on after a read failed, as a disconnect listener would."""
        for _ in range(CHUNKS + 3):
            with contextlib.suppress(Exception):
                await request.receive()
        return {"ok": True}

    @app.get("/page")
    async def page() -> dict[str, Any]:
        return {"ok": True}

    return app


async def call(
    app: Callable[..., Awaitable[None]], path: str, *, headers: list[tuple[bytes, bytes]] | None = None,
    chunks: int = CHUNKS, method: str = "POST", query: bytes = b"",
) -> tuple[int, dict[bytes, bytes], bytes, int]:  # fmt: skip
    """(status, headers, body, chunks the app pulled) of one request whose body arrives in `chunks`."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= chunks:
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": b"a" * CHUNK, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": query,
             "headers": [(b"content-type", b"application/x-www-form-urlencoded"), *(headers or [])],
             "http_version": "1.1", "scheme": "http", "server": ("t", 80), "client": ("c", 1),
             "root_path": ""}  # fmt: skip
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert sum(m["type"] == "http.response.start" for m in sent) == 1, "exactly one answer"
    return start["status"], dict(start["headers"]), body, pulled


@pytest.mark.parametrize("path", ["/model", "/raw", "/form", "/stream", "/stubborn"])
async def test_a_chunked_body_past_the_limit_is_refused_as_it_arrives(path: str) -> None:
    status, _, body, pulled = await call(BodyLimit(inner_app()), path)
    assert status == 413
    assert json.loads(body) == {"error": errors.MESSAGES[413]}
    assert pulled <= MAX_BODY // CHUNK + 1, f"the app pulled {pulled} chunks of {CHUNKS}: the whole body"


async def test_a_body_within_the_limit_passes_and_a_larger_limit_applies_to_its_path() -> None:
    app = BodyLimit(inner_app(), limits={"/stream": 2 * 1024 * 1024})
    status, _, body, _ = await call(app, "/raw", chunks=MAX_BODY // CHUNK)
    assert (status, json.loads(body)) == (200, {"size": MAX_BODY})
    status, _, body, _ = await call(app, "/stream", chunks=32)
    assert (status, json.loads(body)) == (200, {"size": 32 * CHUNK})
    assert (await call(app, "/stream", chunks=33))[0] == 413


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    for length in (b"999999999", b"12x", b"-1"):
        status, _, _, pulled = await call(BodyLimit(inner_app()), "/raw", headers=[(b"content-length", length)])
        assert (status, pulled) == (413, 0)


@pytest.mark.parametrize("target", [("/page%00", b""), ("/page", b"a=%00"), ("/page", b"a=1&b=x%00y")])
async def test_a_nul_in_the_url_is_400(target: tuple[str, bytes]) -> None:
    path, query = target
    status, _, body, _ = await call(UrlGuard(inner_app()), path, method="GET", query=query, chunks=0)
    assert (status, json.loads(body)) == (400, {"error": errors.MESSAGES[400]})


async def test_every_answer_carries_the_security_headers() -> None:
    app = SecurityHeaders(BodyLimit(inner_app()))
    for path, method, chunks in (("/page", "GET", 0), ("/nowhere", "GET", 0), ("/raw", "POST", CHUNKS)):
        status, headers, _, _ = await call(app, path, method=method, chunks=chunks)
        assert status in (200, 404, 413)
        assert headers[b"content-security-policy"] == CSP.encode()
        assert headers[b"x-frame-options"] == b"DENY"
        assert headers[b"x-content-type-options"] == b"nosniff"
        assert headers[b"referrer-policy"] == b"same-origin"
    assert "'unsafe-inline'" not in CSP and "frame-ancestors 'none'" in CSP


INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\ssrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    "event handler attribute": re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]+\sstyle\s*=", re.I),
    "style element": re.compile(r"<style[\s>]", re.I),
}


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_the_pages_need_nothing_the_policy_refuses(template: Path) -> None:
    """The CSP allows scripts and styles from /static only: a page with an inline script, an `onclick`
    or a `style="…"` would silently lose it in the browser."""
    html = template.read_text()
    found = {what: pattern.findall(html) for what, pattern in INLINE.items() if pattern.search(html)}
    assert not found, found
    for src in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
        assert src.startswith(("/static/", "{{ static_url }}/")), f"{src}: not same-origin /static"
