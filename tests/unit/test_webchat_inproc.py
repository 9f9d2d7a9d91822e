"""The web chat channel on the in-process bot (tests/inproc.py): who may see what, in the demo and
with an invitation link only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.inproc import TOKEN, InProcessBot
from wiring.commands import chat_link

GRID_NAME = "阳光社区第1微网格（1-4号楼）"


@pytest.fixture
def invite_only(tmp_path: Path) -> Iterator[InProcessBot]:
    bot = InProcessBot(tmp_path, GRIDBOT_DEMO="false")
    yield bot
    bot.close()


def invitation(bot: InProcessBot, chat: str, sender: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The token of an invitation link, made as an admin makes it (`run_bot.py chat-link`)."""
    chat_link(bot.settings, chat, sender)
    link = capsys.readouterr().out.strip()
    return parse_qs(urlsplit(link).query)["token"][0]


def test_without_demo_the_rooms_need_a_token_and_an_invite_sees_only_its_room(
    invite_only: InProcessBot, capsys: pytest.CaptureFixture[str]
) -> None:
    web = invite_only.client("http://bot/chat/api")
    for headers in ({}, {"X-Chat-Token": "forged.0123456789abcdef0123456789abcdef"}, {"Authorization": "Bearer nope"}):
        refused = web.get("/rooms", headers=headers)
        assert refused.status_code == 401 and "error" in refused.json(), refused.text
        assert "李建国" not in refused.text and "o-shifan" not in refused.text

    everything = web.get("/rooms", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert len(everything["rooms"]) == 8 and {p["id"] for p in everything["staff"]} >= {"o-shifan", "o-xingfu"}

    token = invitation(invite_only, "yg-1", "张阿姨", capsys)
    own = web.get("/rooms", headers={"X-Chat-Token": token}).json()
    assert [r["chat_id"] for r in own["rooms"]] == ["yg-1"] and own["staff"] == []
    assert [m["name"] for m in own["rooms"][0]["members"]] == ["李建国"]


def test_an_invitation_link_still_opens_the_chat_without_the_room_list(
    invite_only: InProcessBot, capsys: pytest.CaptureFixture[str]
) -> None:
    web = invite_only.client("http://bot/chat/api")
    token = invitation(invite_only, "yg-1", "张阿姨", capsys)
    headers = {"X-Chat-Token": token}
    page = invite_only.client().get("/chat")
    assert page.status_code == 200 and 'data-demo="false"' in page.text
    me = web.get("/me", headers=headers).json()
    assert (me["chat_id"], me["chat_name"], me["name"]) == ("yg-1", GRID_NAME, "张阿姨")  # the page needs no /rooms
    assert web.post("/session", json={"chat_id": "yg-1", "sender": "x"}).status_code == 403
    report = "3号楼楼道里垃圾堆了好几天了"
    sent = web.post("/messages", headers=headers, json={"text": report, "client_id": "i1"})
    assert sent.status_code == 201, sent.text
    shown = web.get("/messages", headers=headers).json()["messages"]
    assert shown[0]["text"] == report and shown[0]["mine"]


def test_the_demo_lists_every_room_and_lets_anyone_in(tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path)
    try:
        web = bot.client("http://bot/chat/api")
        rooms = web.get("/rooms").json()
        assert rooms["demo"] is True and len(rooms["rooms"]) == 8 and rooms["staff"]
        session = web.post("/session", json={"chat_id": "yg-2", "sender": "w-yg-2"}).json()
        headers = {"X-Chat-Token": session["token"]}
        assert web.get("/me", headers=headers).json()["chat_name"] == "阳光社区第2微网格（5-8号楼）"
        assert web.post("/messages", headers=headers, json={"text": "大家早上好"}).status_code == 201
    finally:
        bot.close()
