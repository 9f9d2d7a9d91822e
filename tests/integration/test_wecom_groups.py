"""WeCom status reaches the group the report came from, with cards (issue 22). Seen before: a worker's
`#30 已处理` from the app was answered in the app, but nothing reached the group chat: the resident
never heard it was fixed nor was asked to rate. And the AI bot's passive replies were `text`, which
WeCom takes only as a welcome (a reply to a user message is `stream` or `template_card`).

The whole bot runs in-process (keyword rules, SQLite) against the fake WeCom API, which also plays
the group robot (群机器人) webhook with its 20 messages a minute; the callbacks are sealed here with
wechatpy's WeCom crypto, in the AI bot's JSON shapes (message, template_card_event)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from wechatpy.enterprise.crypto import PrpCrypto

from bot.channels.codes import LinkCodes
from bot.channels.wecom import WEBHOOK, WecomGateway
from bot.outbox import Wait
from storage.sql import SqlUnitOfWork
from tests.e2e.helpers import wait_for
from tests.fakes.wechat_api import FakeWechat
from tests.inproc import TOKEN, InProcessBot
from tickets.directory import Directory
from tickets.ports import Delivery, Direction, NewMessage
from wiring import commands

CORP, WC_TOKEN, SECRET, AGENT = "wwgroups0000000000", "wcGroupsToken", "wc-groups-secret", "1000002"
AES = base64.b64encode(bytes(range(5, 37))).decode().rstrip("=")
CRYPTO = PrpCrypto(base64.b64decode(AES + "="))
ROBOT = "693a91f6-7aaa-4bc4-97a0-0ec2sifa5aaa"
GROUP = "wrkGROUPS1"
# the conversation scripts' policy: no quiet hours, no after-photo or 核查 (the channel is what is tested here)
POLICY = str(Path(__file__).parents[1] / "e2e" / "conversations" / "policy.yml")
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWechat]:
    server = FakeWechat(CORP, SECRET, wecom=True).start()
    server.add_robot(ROBOT)
    yield server
    server.stop()
    assert server.unexpected == [], server.unexpected


@pytest.fixture(scope="module")
def bot(fake: FakeWechat, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    bot = InProcessBot(tmp_path_factory.mktemp("wc-groups"), GRIDBOT_POLICIES=POLICY, GRIDBOT_WECOM_CORP_ID=CORP,
                       GRIDBOT_WECOM_TOKEN=WC_TOKEN,
                       GRIDBOT_WECOM_AES_KEY=AES, GRIDBOT_WECOM_SECRET=SECRET, GRIDBOT_WECOM_AGENT_ID=AGENT,
                       GRIDBOT_WECOM_API_BASE=fake.base)  # fmt: skip
    yield bot
    bot.close()


def signed(encrypt: str, token: str = WC_TOKEN) -> dict[str, str]:
    ts, nonce = str(int(time.time())), f"n{next(_ids)}"
    digest = hashlib.sha1("".join(sorted([token, ts, nonce, encrypt])).encode()).hexdigest()
    return {"timestamp": ts, "nonce": nonce, "msg_signature": digest}


def sealed(inner: dict[str, Any] | str, receive_id: str = "") -> str:
    text = inner if isinstance(inner, str) else json.dumps(inner, ensure_ascii=False)
    out = CRYPTO.encrypt(text, receive_id)
    return out.decode() if isinstance(out, bytes) else str(out)


def aibot(bot: InProcessBot, event: dict[str, Any], token: str = WC_TOKEN, **overrides: str) -> Any:
    """Post one AI bot callback (signed with `token`, query fields overridden); (status, reply or None)."""
    encrypt = sealed(event)
    return posted(bot, encrypt, {**signed(encrypt, token), **overrides})


def posted(bot: InProcessBot, encrypt: str, params: dict[str, str]) -> Any:
    with bot.client() as client:
        response = client.post("/wecom/aibot", params=params, json={"encrypt": encrypt})
    if response.status_code != 200 or not response.content:
        return response.status_code, None
    return 200, json.loads(CRYPTO.decrypt(response.json()["encrypt"], ""))


def mention(text: str, userid: str) -> dict[str, Any]:
    return {"msgid": f"m{next(_ids)}", "aibotid": "AIBOT1", "chatid": GROUP, "chattype": "group",
            "response_url": "https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=X",
            "from": {"userid": userid}, "msgtype": "text", "text": {"content": f"@网格通 {text}"}}  # fmt: skip


def press(key: str, task_id: str, userid: str) -> dict[str, Any]:
    return {"msgid": f"e{next(_ids)}", "create_time": int(time.time()), "aibotid": "AIBOT1", "chatid": GROUP,
            "chattype": "group", "from": {"userid": userid}, "msgtype": "event",
            "event": {"eventtype": "template_card_event", "template_card_event": {
                "card_type": "button_interaction", "event_key": key, "task_id": task_id}}}  # fmt: skip


def app(bot: InProcessBot, userid: str, text: str) -> str:
    xml = (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           f"<Content><![CDATA[{text}]]></Content><MsgId>{next(_ids) + 90000}</MsgId>"
           f"<AgentID>{AGENT}</AgentID></xml>")  # fmt: skip
    encrypt = sealed(xml, CORP)
    with bot.client() as client:
        response = client.post("/wecom/app", params=signed(encrypt), content=f"<xml><Encrypt><![CDATA[{encrypt}]]>"
                               "</Encrypt></xml>")  # fmt: skip
    assert response.status_code == 200, response.text
    inner = CRYPTO.decrypt(re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", response.text).group(1), CORP)  # type: ignore[union-attr]
    return re.search(r"<Content><!\[CDATA\[(.*?)\]\]>", inner, re.S).group(1)  # type: ignore[union-attr]


def test_status_reaches_the_group_through_its_robot_and_cards_act_like_typed_commands(
    bot: InProcessBot, fake: FakeWechat
) -> None:
    # the group is bound by @-mention: the answer is a finished stream, not `text`
    _, bound = aibot(bot, mention(f"/bind {LinkCodes(TOKEN).bind_code('hh-1')}", "admin1"))
    assert bound["msgtype"] == "stream" and bound["stream"]["finish"] is True
    assert "荷花社区第1微网格" in bound["stream"]["content"]
    # its group robot is bound by key (given to the CLI, never in the group); a bad key is refused
    assert bot.run(commands.wecom_webhook(bot.settings, "not a key!", "hh-1")) == 2
    assert bot.run(commands.wecom_webhook(bot.settings, f"https://x/cgi-bin/webhook/send?key={ROBOT}", "hh-1")) == 0

    # a resident's report: the passive reply is a card with the staff's buttons
    _, card = aibot(bot, mention("5号楼下水管爆了 水漫出来了", "liuayi"))
    assert card["msgtype"] == "template_card", card
    template = card["template_card"]
    [ticket] = bot.http.get("/tickets", params={"chat_id": "hh-1"}).json()["tickets"]
    tid = ticket["id"]
    assert template["card_type"] == "button_interaction" and f"#{tid}" in template["sub_title_text"]
    buttons = {b["text"]: b["key"] for b in template["button_list"]}
    assert buttons == {"接单": f"accept:{tid}", "已处理": f"resolve:{tid}", "吹哨": f"whistle:{tid}"}
    wait_for(lambda: any("新工单" in t for t in fake.to("w-hh-1")), 10, "the worker's app ping")
    assert fake.robot(ROBOT) == []  # the answer went out as the passive reply, not again through the robot

    # the worker presses 接单 on the card: their card says so; the group hears it through the robot
    _, update = aibot(bot, press(buttons["接单"], template["task_id"], "w-hh-1"))
    assert update["response_type"] == "update_template_card" and update["userids"] == ["w-hh-1"]
    assert update["template_card"]["main_title"]["title"] == "已接单"
    assert update["template_card"]["task_id"] == template["task_id"]
    assert bot.ticket(tid)["state"] == "accepted"
    wait_for(lambda: any(f"#{tid}" in t and "接单" in t for t in fake.robot(ROBOT)), 10, "the accepted post")

    # the reported bug: resolved from the app, the group (and so the resident) is asked to rate
    assert "评价" in app(bot, "w-hh-1", f"#{tid} 已处理，已关闭阀门换了水管")
    asked = wait_for(lambda: [t for t in fake.robot(ROBOT) if "评价" in t], 10, "the resolved post in the group")
    assert f"#{tid}" in asked[0]

    # a resident's 满意 on a rating card is their typed 满意
    _, thanked = aibot(bot, press(f"rate5:{tid}", "gb-x", "liuayi"))
    assert thanked["template_card"]["main_title"]["title"] == "感谢您的评价"
    assert (bot.ticket(tid)["state"], bot.ticket(tid)["rating"]) == ("closed", 5)
    assert fake.robot_refusals == []


def test_a_card_event_is_checked_like_every_callback(bot: InProcessBot) -> None:
    event = press("accept:1", "gb-1", "w-hh-1")
    assert aibot(bot, event, token="forged")[0] == 403
    assert aibot(bot, event, timestamp=str(int(time.time()) - 3600))[0] == 403  # a forged stamp: bad signature
    stale_ts = str(int(time.time()) - 3600)
    encrypt = sealed(event)
    stale = {"timestamp": stale_ts, "nonce": "n-stale", "msg_signature": hashlib.sha1("".join(sorted(
        [WC_TOKEN, stale_ts, "n-stale", encrypt])).encode()).hexdigest()}  # fmt: skip
    assert posted(bot, encrypt, stale)[0] == 403  # signed, but outside the replay window
    first = sealed(press("whistle:1", "gb-1", "w-hh-1"))
    params = signed(first)
    assert posted(bot, first, params)[0] == 200
    other = sealed(press("resolve:1", "gb-1", "w-hh-1"))  # the same (timestamp, nonce), another body
    resigned = {**params, "msg_signature": hashlib.sha1("".join(sorted(
        [WC_TOKEN, params["timestamp"], params["nonce"], other])).encode()).hexdigest()}  # fmt: skip
    assert posted(bot, other, resigned)[0] == 403
    # a key that is none of ours, and an event without its card, get a clear answer, never a 500
    _, unknown = aibot(bot, press("drop-table:1", "gb-2", "w-hh-1"))
    assert "按钮已失效" in unknown["template_card"]["sub_title_text"]
    broken = {**press("accept:1", "gb-3", "w-hh-1"), "event": {"eventtype": "template_card_event"}}
    assert aibot(bot, broken)[0] == 400


async def test_a_group_robot_over_20_a_minute_postpones_instead_of_failing(engine: AsyncEngine) -> None:
    fake = FakeWechat(CORP, SECRET, wecom=True).start()
    fake.add_robot(ROBOT)
    try:
        gateway = WecomGateway(corp_id=CORP, token=WC_TOKEN, aes_key=AES, app_secret=None, agent_id=None,
                               api_base=fake.base, uow=lambda: SqlUnitOfWork(engine),
                               directory=lambda: Directory([], []), codes=LinkCodes(TOKEN),
                               replay_window_s=300)  # fmt: skip
        now = datetime.now(UTC)
        async with SqlUnitOfWork(engine) as uow:
            await uow.channels.bind_chat(WEBHOOK, ROBOT, "hh-1")
            posts = [await uow.messages.add(NewMessage(Direction.OUT, "gridbot", f"第{i}条", Delivery.PENDING,
                                                       chat_id="hh-1", channel="web"), now)
                     for i in range(22)]  # fmt: skip
            assert await gateway.reaches(uow, posts[0])
        for message in posts[:20]:
            await gateway.send(message)
        with pytest.raises(Wait, match="20 messages a minute") as wait:
            await gateway.send(posts[20])
        assert 30 < (wait.value.until - datetime.now(UTC)).total_seconds() <= 61
        await gateway.send(posts[0])  # a retry of one it has is not posted again
        assert fake.robot(ROBOT) == [f"第{i}条" for i in range(20)] and fake.robot_refusals == []
    finally:
        fake.stop()
