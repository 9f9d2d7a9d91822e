"""A shared location on the in-process bot: on a line with no grid of its own (the WeChat Official
Account) it routes the resident's report to the grid whose boundary holds it; in a grid's group the
group's grid stays; staff's shared locations become their last known positions (the map)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_wechat_oa import event_xml, reply_text, signed, text_xml, xml_of
from tests.fakes.wechat_api import FakeWechat
from tests.inproc import InProcessBot
from tests.unit.test_private_lines_inproc import oa_bot

BINHE_5 = (113.67, 34.7475)  # inside xh-2 (新河社区第2微网格) of the demo district, far from yg-1


@pytest.fixture
def wechat() -> Iterator[FakeWechat]:
    server = FakeWechat("wx-app", "secret").start()
    yield server
    server.stop()


def location_xml(openid: str, lng: float, lat: float, msg_id: str) -> str:
    return xml_of(openid, {"MsgType": "location", "Location_X": str(lat), "Location_Y": str(lng), "Scale": "15",
                           "Label": "滨河小区5号楼", "MsgId": msg_id})  # fmt: skip


def test_a_location_shared_on_the_official_account_routes_the_report_to_its_grid(
    tmp_path: Path, wechat: FakeWechat
) -> None:
    bot = oa_bot(tmp_path, wechat)
    try:
        oa, resident = bot.client(), "oMAP-0001"
        oa.post("/wechat/oa", params=signed(), content=event_xml(resident, "subscribe", "qrscene_yg-1"))
        asked = reply_text(oa.post("/wechat/oa", params=signed(), content=text_xml(resident, "路灯坏了")))
        assert "哪" in asked  # a draft in the line's grid, waiting for the place
        reply_text(oa.post("/wechat/oa", params=signed(), content=location_xml(resident, *BINHE_5, "7001")))
        tickets = bot.http.get("/tickets").json()["tickets"]
        ticket = bot.ticket(tickets[0]["id"])
        assert (ticket["grid"], ticket["assignee"], ticket["state"]) == ("xh-2", "w-xh-2", "reported")
        assert ticket["location"] == "滨河小区5号楼"
        assert any("#" in m["text"] for m in bot.inbox("w-xh-2")) and not bot.inbox("w-yg-1")
    finally:
        bot.close()


def test_in_a_grid_group_the_group_keeps_its_grid_and_staff_positions_are_remembered(tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path)
    try:
        bot.say("yg-1", "张阿姨", "路灯坏了")
        shared = {"sender": "张阿姨", "text": "", "attachments": [{"kind": "location", "lat": BINHE_5[1],
                                                                    "lng": BINHE_5[0], "label": "这里"}]}  # fmt: skip
        assert bot.http.post("/chats/yg-1/messages", json=shared).status_code == 201
        tickets = bot.http.get("/tickets").json()["tickets"]
        assert bot.ticket(tickets[0]["id"])["grid"] == "yg-1"  # the group's own grid, whatever is shared
        at = {"sender": "w-yg-1", "text": "报平安", "attachments": [{"kind": "location", "lat": 34.78, "lng": 113.61}]}
        assert bot.http.post("/chats/yg-1/messages", json=at).status_code == 201
        with sqlite3.connect(tmp_path / "bot.db") as db:
            assert db.execute("SELECT person_id, lng, lat FROM positions").fetchall() == [("w-yg-1", 113.61, 34.78)]
    finally:
        bot.close()
