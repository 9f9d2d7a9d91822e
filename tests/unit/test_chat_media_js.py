"""The web chat's attachment policy (`admin/static/chat-media.js`, run under Node): only our own photo
URLs are loaded as images; any other address would be fetched by every viewer's browser (tracking).
And the page really uses it: chat.js makes images nowhere else, chat.html loads the policy first."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

STATIC = Path(__file__).resolve().parents[2] / "admin" / "static"
OWN = "/chat/media/" + "0123456789abcdef" * 2 + ".png"


def views(attachments: list[Any]) -> list[dict[str, str]]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed (README: make setup installs ECharts with npm)")
    script = (f"const m = require({json.dumps(str(STATIC / 'chat-media.js'))});"
              "process.stdout.write(JSON.stringify(JSON.parse(process.argv[1]).map(m.view)));")  # fmt: skip
    done = subprocess.run([node, "-e", script, json.dumps(attachments)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_only_our_own_photo_urls_are_loaded_as_images() -> None:
    shown = views([{"kind": "image", "url": OWN}, {"kind": "image", "url": "/chat/media/" + "a" * 32 + ".gif"}])
    assert [v["kind"] for v in shown] == ["image", "image"] and shown[0]["url"] == OWN


ELSEWHERE = ["https://tracker.example/pixel.gif?who=1", "http://192.168.1.5/p.png", "HTTPS://cdn.example/a.jpg"]
OTHER = [
    "//tracker.example/pixel.gif",
    f"{OWN}?u=https://tracker.example/p",
    "/chat/media/../../admin",
    "javascript:alert(1)",
    "data:image/png;base64,AAAA",
    "tg-file:AgADBAAD",
    "",
    " https://x.example/p.gif",
    42,
]


def test_another_sites_photo_is_a_link_to_follow_never_an_image() -> None:
    shown = views([{"kind": "image", "url": url} for url in ELSEWHERE])
    assert shown == [{"kind": "link", "url": url, "text": f"[图片链接] {url}"} for url in ELSEWHERE]


def test_any_other_photo_address_is_a_plain_label() -> None:
    shown = views([{"kind": "image", "url": url} for url in OTHER])
    assert shown == [{"kind": "text", "text": "[图片]"}] * len(OTHER)


def test_places_and_unknown_attachments_are_text() -> None:
    shown = views([{"kind": "location", "lat": 30.1, "lng": 120.2, "label": ""},
                   {"kind": "location", "lat": 1, "lng": 2, "label": "3号楼"}, None, {"kind": "video"}])  # fmt: skip
    assert [v["text"] for v in shown] == ["位置：30.10000, 120.20000", "位置：3号楼", "[附件]", "[附件]"]


def test_the_bulletin_pdf_is_a_download_link_and_no_other_file_is() -> None:
    shown = views([{"kind": "file", "url": "/admin/bulletins/7/pdf", "name": "bulletin-2026-11-shifan.pdf"},
                   {"kind": "file", "url": "https://tracker.example/x.pdf", "name": "x.pdf"},
                   {"kind": "file", "url": "/admin/bulletins/7/pdf?x=javascript:1"}])  # fmt: skip
    assert shown == [{"kind": "link", "url": "/admin/bulletins/7/pdf", "text": "[PDF] bulletin-2026-11-shifan.pdf"},
                     {"kind": "text", "text": "[附件]"}, {"kind": "text", "text": "[附件]"}]  # fmt: skip


def test_the_chat_page_makes_images_only_through_the_policy() -> None:
    chat = (STATIC / "chat.js").read_text()
    assert len(re.findall(r"el\('img'|createElement\('img'\)|new Image", chat)) == 1
    body = chat[chat.index("function renderAttachment") :]
    body = body[: body.index("\n  }\n")]
    assert "GridbotMedia.view(a)" in body and "img.src = v.url" in body and "a.url" not in body
    page = (STATIC.parent / "templates" / "chat.html").read_text()
    assert page.index("/chat-media.js") < page.index("/chat.js")
