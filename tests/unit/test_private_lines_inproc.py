"""One-to-one lines on the in-process bot (tests/inproc.py): a resident's WeChat Official Account
messages and staff's WeCom app messages are routed through their grid's chat, but neither they nor
the bot's answers to them ever show in that group's transcript (web chat, API); the group's own
messages and the bot's group posts still do, and the private line still gets its answers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_wechat_oa import APPID, APPSECRET, event_xml, reply_text, signed, text_xml, xml_of
from tests.e2e.test_wechat_oa import TOKEN as OA_TOKEN
from tests.e2e.test_wecom import AES_KEY, AGENT, CORP, app_reply, sealed, sign
from tests.e2e.test_wecom import TOKEN as WECOM_TOKEN
from tests.fakes.wechat_api import FakeWechat
from tests.inproc import InProcessBot

PHONE = "13900001111"
OA_REPORT = f"3号楼楼道里垃圾堆了好几天了，我家电话{PHONE}"


@pytest.fixture
def wechat() -> Iterator[FakeWechat]:
    server = FakeWechat(APPID, APPSECRET).start()
    yield server
    server.stop()
    assert server.unexpected == [], server.unexpected


def oa_bot(tmp_path: Path, wechat: FakeWechat) -> InProcessBot:
    """The in-process bot with the Official Account on the fake WeChat API."""
    return InProcessBot(tmp_path, GRIDBOT_WECHAT_APPID=APPID, GRIDBOT_WECHAT_TOKEN=OA_TOKEN,
                        GRIDBOT_WECHAT_APPSECRET=APPSECRET, GRIDBOT_WECHAT_API_BASE=wechat.base)  # fmt: skip


def oa_sender(bot: InProcessBot) -> Callable[[str], str]:
    """Posts a signed Official Account message and returns the passive reply's text."""
    oa = bot.client()

    def send(xml: str) -> str:
        return reply_text(oa.post("/wechat/oa", params=signed(), content=xml))

    return send


def group_transcript(bot: InProcessBot, chat: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The group's transcript as a web chat member sees it, and as the API returns it."""
    web = bot.client("http://bot/chat/api")
    token = web.post("/session", json={"chat_id": chat, "sender": "邻居老王"}).json()["token"]
    seen = web.get("/messages", headers={"X-Chat-Token": token}).json()["messages"]
    return seen, bot.chat(chat)


def test_an_official_account_message_and_its_answers_stay_out_of_the_group(tmp_path: Path, wechat: FakeWechat) -> None:
    bot = oa_bot(tmp_path, wechat)
    try:
        oa, resident = bot.client(), "oPRIVATE-0001"
        assert "阳光社区第1微网格" in reply_text(
            oa.post("/wechat/oa", params=signed(), content=event_xml(resident, "subscribe", "qrscene_yg-1"))
        )
        answer = reply_text(oa.post("/wechat/oa", params=signed(), content=text_xml(resident, OA_REPORT)))
        ticket = int(re.findall(r"#(\d+)", answer)[0])  # the resident is answered on their line
        assert bot.ticket(ticket)["reporter"].startswith("微信用户0001#wx")

        said = bot.say("yg-1", "张阿姨", "5号楼东门的路灯坏了，晚上很黑")  # the group's own conversation
        for messages in group_transcript(bot, "yg-1"):
            texts = "\n".join(m["text"] for m in messages)
            assert PHONE not in texts and "1111" not in texts and "微信用户" not in texts, texts
            assert f"#{ticket}" not in texts  # not even the bot's acknowledgement to the resident
            assert [m["message_id"] for m in messages] == [said["message_id"], said["replies"][0]["message_id"]]

        # the worker's move in the group is a group post, and the resident still hears of it on their line
        accepted = bot.say("yg-1", "w-yg-1", f"/接单 {ticket}")["replies"][0]
        assert accepted["message_id"] in [m["message_id"] for m in bot.chat("yg-1")]
        deadline = time.monotonic() + 10
        while not any(f"#{ticket}" in t and "接单" in t for t in wechat.to(resident)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(f"#{ticket}" in t and "接单" in t for t in wechat.to(resident)), wechat.to(resident)
    finally:
        bot.close()


def app_message(client: httpx.Client, userid: str, text: str, msg_id: int) -> str:
    xml = (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId><AgentID>{AGENT}</AgentID></xml>")  # fmt: skip
    encrypt = sealed(xml, CORP)
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return app_reply(client.post("/wecom/app", params=sign(encrypt), content=body))


def test_staff_writing_to_the_wecom_app_move_the_case_in_the_group_but_their_words_stay_private(
    tmp_path: Path,
) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_WECOM_CORP_ID=CORP, GRIDBOT_WECOM_TOKEN=WECOM_TOKEN,
                       GRIDBOT_WECOM_AES_KEY=AES_KEY)  # fmt: skip
    try:
        app = bot.client()
        report = bot.say("yg-1", "张阿姨", "3号楼楼上半夜装修 噪音吵得睡不着")  # a type that needs no photo
        ticket = report["replies"][0]["ticket_id"]
        note = f"业主电话{PHONE}已联系，已停工"
        assert "接单" in app_message(app, "w-yg-1", f"/接单 {ticket}", 1)
        assert "已处理完毕" in app_message(app, "w-yg-1", f"/已处理 {ticket} {note}", 2)
        mine = app_message(app, "w-yg-1", "我的工单", 3)  # a direct answer: for the worker alone
        assert "在办工单" in mine or "没有在办" in mine

        for messages in group_transcript(bot, "yg-1"):
            texts = [m["text"] for m in messages]
            assert not any(PHONE in t or "已联系" in t or "/接单" in t or "在办工单" in t for t in texts), texts
            assert any("已由网格员李建国接单" in t for t in texts)  # the case posts are the group's business
            assert any("已处理完毕" in t for t in texts)
            assert [m["sender"] for m in messages if m["sender"] != "gridbot"] == ["张阿姨"]
        assert bot.ticket(ticket)["state"] == "resolved"
    finally:
        bot.close()


def test_an_official_account_resident_is_answered_as_one_to_one_and_hears_the_status_of_their_case(
    tmp_path: Path, wechat: FakeWechat
) -> None:
    """Issue 22: the OA ack said 会在群里告诉您; 什么时候能修好啊 after the report opened a consult (and
    the next photo went to that consult) instead of answering with the case's status."""
    bot = oa_bot(tmp_path, wechat)
    try:
        resident = "oPRIVATE-0002"
        send = oa_sender(bot)

        send(event_xml(resident, "subscribe", "qrscene_yg-1"))
        ack = send(text_xml(resident, "3号楼楼道里垃圾堆了好几天了"))
        ticket = int(re.findall(r"#(\d+)", ack)[0])
        assert "群" not in ack and "@" not in ack, ack  # one to one: no group, no mention
        for question in ("什么时候能修好啊", "进度怎么样", "有人管吗"):
            status = send(text_xml(resident, question))
            assert f"#{ticket}" in status and "待接单" in status, (question, status)
        assert [t["id"] for t in bot.http.get("/tickets", params={"chat_id": "yg-1"}).json()["tickets"]] == [ticket]
        photo = {"MsgType": "image", "PicUrl": "http://mmbiz.example/2.jpg", "MediaId": "m2", "MsgId": "9102"}
        send(xml_of(resident, photo))
        assert [e["kind"] for e in bot.ticket(ticket)["events"]][-1] == "supplemented"
        pinged = [m["text"] for m in bot.inbox("w-yg-1")]
        assert f"工单 #{ticket} 有补充（微信用户0002）：图片 ×1" in pinged, pinged  # says what was added
    finally:
        bot.close()


def test_an_officer_above_grid_level_lists_the_cases_of_their_whole_area_on_the_wecom_app(tmp_path: Path) -> None:
    """Issue 22: a community or township officer's `我的工单` to the app got 请注明工单号 (no chat of
    their own); one to one it lists every grid of their area, and no other."""
    bot = InProcessBot(tmp_path, GRIDBOT_WECOM_CORP_ID=CORP, GRIDBOT_WECOM_TOKEN=WECOM_TOKEN,
                       GRIDBOT_WECOM_AES_KEY=AES_KEY)  # fmt: skip
    try:
        app = bot.client()
        opened = {chat: bot.say(chat, "张阿姨", "3号楼楼道里垃圾堆了好几天了")["replies"][0]["ticket_id"]
                  for chat in ("yg-1", "yg-2", "hh-1", "df-1")}  # fmt: skip
        for n, (officer, area) in enumerate(
            [("o-yangguang", ["yg-1", "yg-2"]), ("o-xingfu", ["yg-1", "yg-2", "hh-1"]), ("o-shifan", list(opened))]
        ):
            mine = app_message(app, officer, "我的工单", 10 + n)
            listed = sorted(int(i) for i in re.findall(r"#(\d+)", mine))
            assert listed == sorted(opened[chat] for chat in area), (officer, mine)
            assert "群" not in mine and "@" not in mine, mine
        assert "工单号" in app_message(app, "o-yangguang", "已处理", 20)  # without a number: which case?
        for n, person in enumerate(("o-yangguang", "w-yg-1")):  # a number that is no case: said so
            assert "没有找到工单 #999" in app_message(app, person, "#999 报到", 21 + n)
    finally:
        bot.close()


def test_a_worker_pinged_about_what_a_resident_said_one_to_one_is_not_sent_to_the_group(
    tmp_path: Path, wechat: FakeWechat
) -> None:
    """Issue 22: the ping for a consult asked through the Official Account said 在…群里问 and told the
    worker to answer 在群里; the group never saw the question (nor the report's acknowledgement)."""
    bot = oa_bot(tmp_path, wechat)
    try:
        resident = "oPRIVATE-0003"
        send = oa_sender(bot)

        send(event_xml(resident, "subscribe", "qrscene_yg-1"))
        consult = int(re.findall(r"#(\d+)", send(text_xml(resident, "请问孩子上小学报名需要准备哪些材料")))[0])
        report = int(re.findall(r"#(\d+)", send(text_xml(resident, "3号楼楼道里垃圾堆了好几天了")))[0])
        pings = {t: next(m["text"] for m in bot.inbox("w-yg-1") if f"#{t}" in m["text"]) for t in (consult, report)}
        assert "居民咨询" in pings[consult] and f"#{consult} " in pings[consult], pings
        assert "新工单" in pings[report], pings
        for ping in pings.values():
            assert "群" not in ping and "回复该条消息" not in ping, ping  # answered by case number, anywhere

        bot.say("yg-2", "周大爷", "请问孩子上小学报名需要准备哪些材料")  # asked in the group: its words as before
        assert any("在阳光社区第2微网格" in m["text"] and "群里问" in m["text"] for m in bot.inbox("w-yg-2"))
    finally:
        bot.close()


def test_staff_refused_on_the_wecom_app_are_told_in_one_to_one_words(tmp_path: Path) -> None:
    """Issue 22: a worker on the app was told to 直接回复机器人发的工单消息 (no such reply one to one)
    and that 本群 had no case."""
    bot = InProcessBot(tmp_path, GRIDBOT_WECOM_CORP_ID=CORP, GRIDBOT_WECOM_TOKEN=WECOM_TOKEN,
                       GRIDBOT_WECOM_AES_KEY=AES_KEY)  # fmt: skip
    try:
        app = bot.client()
        none = app_message(app, "w-yg-1", "已处理", 30)
        assert "没有" in none and "群" not in none, none
        for text in ("3号楼楼道里垃圾堆了好几天了", "5号楼东门的路灯坏了，晚上很黑"):
            bot.say("yg-1", "张阿姨", text)
        which = app_message(app, "w-yg-1", "已处理", 31)
        assert "工单号" in which and "群" not in which and "回复机器人" not in which, which
        in_group = bot.say("yg-1", "w-yg-1", "已处理")["replies"][0]["text"]  # the group keeps its words
        assert "回复机器人发的工单消息" in in_group, in_group
    finally:
        bot.close()
