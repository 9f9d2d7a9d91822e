"""The web chat channel in demo mode: sessions, posting, transcript, inbox, forged tokens."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx


def test_demo_web_chat_round_trip(rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path) -> None:
    bot = bot_factory(
        GRIDBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'web.db'}", GRIDBOT_NLU_URL=rasa_url, GRIDBOT_DEMO="true"
    )
    bot.start()
    web = httpx.Client(base_url=f"{bot.url}/chat/api", timeout=10)
    rooms = web.get("/rooms").json()
    assert rooms["demo"] is True and len(rooms["rooms"]) == 8
    assert rooms["rooms"][0]["path"].startswith("示范区")

    resident = web.post("/session", json={"chat_id": "xh-1", "sender": "黄阿姨"}).json()
    assert resident["role"] == "resident"
    headers = {"X-Chat-Token": resident["token"]}
    body = {"text": "新河家园2栋楼下水管爆了，水流了一地", "client_id": "w1"}
    sent = web.post("/messages", headers=headers, json=body)
    assert sent.status_code == 201
    ticket_id = sent.json()["replies"][0]["ticket_id"]
    transcript = web.get("/messages", headers=headers).json()["messages"]
    assert [m["mine"] for m in transcript] == [True, False]
    assert transcript[1]["bot"] and transcript[1]["ticket_id"] == ticket_id
    assert transcript[1]["reply_to"] == transcript[0]["message_id"]
    assert web.get("/inbox", headers=headers).json() == {"messages": []}

    worker = web.post("/session", json={"chat_id": "xh-1", "sender": "w-xh-1"}).json()
    assert (worker["role"], worker["name"]) == ("worker", "黄磊")
    inbox = web.get("/inbox", headers={"X-Chat-Token": worker["token"]}).json()["messages"]
    assert any(f"#{ticket_id}" in m["text"] for m in inbox)

    tampered = resident["token"][:-1] + ("0" if resident["token"][-1] != "0" else "1")
    assert web.get("/messages", headers={"X-Chat-Token": tampered}).status_code == 401
    assert web.post("/session", json={"chat_id": "nope", "sender": "x"}).status_code == 404
    assert "网格" in httpx.get(f"{bot.url}/chat").text

    # a photo: uploaded as the raw body, then attached to the resident's case; a shared place too
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    up = web.post("/media", headers={**headers, "Content-Type": "image/png"}, content=png)
    assert up.status_code == 201 and up.json()["url"].startswith("/chat/media/")
    assert httpx.get(f"{bot.url}{up.json()['url']}").content == png
    photo = {"text": "", "attachments": [{"kind": "image", "url": up.json()["url"]}], "client_id": "w2"}
    assert "补充" in web.post("/messages", headers=headers, json=photo).json()["replies"][0]["text"]
    place = {"attachments": [{"kind": "location", "lat": 30.1, "lng": 120.2, "label": "新河家园2栋"}]}
    assert web.post("/messages", headers=headers, json=place).status_code == 201
    shown = web.get("/messages", headers=headers).json()["messages"]
    assert [a["kind"] for m in shown for a in m["attachments"]] == ["image", "location"]
    assert web.post("/media", headers={**headers, "Content-Type": "text/html"}, content=b"<b>").status_code == 415
    assert web.post("/media", headers={"Content-Type": "image/png"}, content=png).status_code == 401
    assert httpx.get(f"{bot.url}/chat/media/..%2F..%2Fetc%2Fpasswd").status_code == 404
    bad_place = {"attachments": [{"kind": "location", "lat": 200, "lng": 0}]}
    assert web.post("/messages", headers=headers, json=bad_place).status_code == 422
    empty = {"text": "  ", "attachments": []}
    assert web.post("/messages", headers=headers, json=empty).status_code == 422
