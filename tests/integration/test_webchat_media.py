"""Web chat photo uploads through the whole app in-process (SQLite): what is stored is an image by its
first bytes, whatever the client declares; media is served as that image type, never sniffed; each
chat token has a quota of photos and bytes per day."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.inproc import InProcessBot

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
GIF = b"GIF89a" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 64
HTML = b"<!doctype html><script>alert(document.cookie)</script>"


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[InProcessBot]:
    bot = InProcessBot(tmp_path, GRIDBOT_MEDIA_QUOTA_COUNT="6", GRIDBOT_MEDIA_QUOTA_MB="1")
    yield bot
    bot.close()


def token(bot: InProcessBot, sender: str) -> str:
    return str(bot.http.post("http://bot/chat/api/session", json={"chat_id": "yg-1", "sender": sender}).json()["token"])


def upload(bot: InProcessBot, tok: str, data: bytes, kind: str = "image/png") -> httpx.Response:
    return bot.http.post("http://bot/chat/api/media", content=data, headers={"X-Chat-Token": tok, "Content-Type": kind})


def media(tmp_path: Path) -> list[str]:
    folder = tmp_path / "var" / "media"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("content", [HTML, b"plain text", b"\x89PNx", b"RIFF\x00\x00\x00\x00WAVE", b"GIF8"])
def test_what_is_not_an_image_by_its_bytes_is_refused_whatever_it_claims(
    bot: InProcessBot, tmp_path: Path, content: bytes
) -> None:
    response = upload(bot, token(bot, "张阿姨"), content, "image/png")
    assert response.status_code == 415, response.text
    assert "error" in response.json() and media(tmp_path) == []


def test_images_are_stored_as_what_their_bytes_say_and_served_unsniffable(bot: InProcessBot, tmp_path: Path) -> None:
    tok = token(bot, "张阿姨")
    served: dict[str, Any] = {}
    kinds = [(PNG, "image/jpeg", "png", "image/png"), (JPEG, "image/png", "jpg", "image/jpeg"),
             (GIF, "image/gif", "gif", "image/gif"), (WEBP, "image/webp", "webp", "image/webp")]  # fmt: skip
    for data, declared, ext, mime in kinds:  # a PNG declared as JPEG is stored and served as the PNG it is
        response = upload(bot, tok, data, declared)
        assert response.status_code == 201, response.text
        url = response.json()["url"]
        assert url.endswith(f".{ext}")
        got = bot.http.get(f"http://bot{url}")
        assert (got.status_code, got.content, got.headers["content-type"]) == (200, data, mime)
        served[ext] = got.headers
    for headers in served.values():
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert len(media(tmp_path)) == 4


def test_each_token_has_a_quota_of_photos_and_bytes_per_day(bot: InProcessBot, tmp_path: Path) -> None:
    """The bot runs with 6 photos and 1 MB per token and day: every attempt counts against the photos,
    the stored bytes against the volume; another token has its own quota."""
    resident, other = token(bot, "张阿姨"), token(bot, "李大爷")
    assert upload(bot, resident, HTML).status_code == 415  # an attempt: one of the six
    sizes = [upload(bot, resident, PNG + bytes([n]) * 300_000).status_code for n in range(4)]
    assert sizes == [201, 201, 201, 429]  # 3 × 300 KB fit in 1 MB, a fourth does not
    assert upload(bot, resident, PNG + b"small").status_code == 201  # the sixth attempt: small enough
    refused = upload(bot, resident, PNG + b"seventh")
    assert refused.status_code == 429 and "上限" in refused.json()["error"]
    assert upload(bot, other, PNG + b"other").status_code == 201
    assert len(media(tmp_path)) == 5
