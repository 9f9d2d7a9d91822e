"""Link codes are single-use, expire, and an `/iam` code counts only in a private chat with the bot
(issue 18, finding 3). Seen before: a worker's `/iam CODE` said in a Telegram group was replayed by
someone else in a private chat, who was then that worker. Here the whole bot runs in-process (keyword
rules, SQLite) with Telegram and WeCom on, against local fakes of their APIs; the spending itself
is checked on SQLite and PostgreSQL, two transactions racing for one code included."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from sqlalchemy.ext.asyncio import AsyncEngine
from wechatpy.enterprise.crypto import PrpCrypto

from bot.channels.codes import LinkCodes, Purpose
from storage.sql import SqlUnitOfWork
from tests.e2e.helpers import wait_for
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wechat_api import FakeWechat, passive_text
from tests.inproc import TOKEN, InProcessBot

TG_TOKEN, TG_SECRET = "123456:LINK-token", "link-secret"
GROUP, OTHER_GROUP, WORKER, STRANGER = -100555, -100666, 4242, 6666
CORP, WC_TOKEN, WC_SECRET, WC_AGENT = "wwlink000000000000", "wcLinkToken", "wc-secret", "1000002"
WC_AES = base64.b64encode(bytes(range(2, 34))).decode().rstrip("=")
CRYPTO = PrpCrypto(base64.b64decode(WC_AES + "="))
_ids = itertools.count(1)
codes = LinkCodes(TOKEN)


async def test_a_key_is_spent_once_even_by_racing_transactions(engine: AsyncEngine) -> None:
    async def spend(key: str) -> bool:
        async with SqlUnitOfWork(engine) as uow:
            return await uow.channels.use_once(key)

    assert await spend("iam-0001") is True
    assert await spend("iam-0001") is False
    assert sorted(await asyncio.gather(*(spend("bind-0002") for _ in range(4)))) == [False, False, False, True]
    with pytest.raises(LookupError):  # a bind or link that fails rolls its spending back with it
        async with SqlUnitOfWork(engine) as uow:
            assert await uow.channels.use_once("iam-0003")
            raise LookupError("the link failed")
    assert await spend("iam-0003") is True


# ------------------------------------------------------------------------------------ Telegram


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(TG_TOKEN).start()
    yield fake
    fake.stop()
    assert fake.unexpected == [], fake.unexpected


@pytest.fixture(scope="module")
def tg_bot(telegram: FakeTelegram, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    bot = InProcessBot(tmp_path_factory.mktemp("tg-codes"), GRIDBOT_TELEGRAM_TOKEN=TG_TOKEN,
                       GRIDBOT_TELEGRAM_API_BASE=telegram.base, GRIDBOT_TELEGRAM_SECRET=TG_SECRET)  # fmt: skip
    wait_for(lambda: any(m == "getMe" for m, _ in telegram.calls), 10, "the gateway to connect")
    yield bot
    bot.close()


def say(bot: InProcessBot, fake: FakeTelegram, text: str, uid: int, name: str, chat: int) -> str:
    """Post one Telegram message to the webhook; the bot's answer in that chat, if any."""
    before = len(fake.sent(chat))
    update = {"update_id": next(_ids), "message": {
        "message_id": next(_ids), "date": int(time.time()), "text": text,
        "from": {"id": uid, "is_bot": False, "first_name": name},
        "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"}}}  # fmt: skip
    with bot.client(headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}) as client:
        assert client.post("/telegram/webhook", json=update).status_code == 200
    return "\n".join(str(m["text"]) for m in fake.sent(chat)[before:])


def sender_of_last(bot: InProcessBot, chat_id: str) -> str:
    return str([m for m in bot.chat(chat_id) if m["sender"] != "gridbot"][-1]["sender"])


def test_an_identity_code_said_in_a_group_is_burnt_and_links_nobody(
    tg_bot: InProcessBot, telegram: FakeTelegram
) -> None:
    assert "已绑定" in say(tg_bot, telegram, f"/bind {codes.bind_code('yg-1')}", 1, "管理员", GROUP)
    code = codes.identity_code("w-yg-1")
    refused = say(tg_bot, telegram, f"/iam {code}", WORKER, "李建国", GROUP)
    assert "私聊" in refused and "作废" in refused
    say(tg_bot, telegram, "3号楼楼道里垃圾堆了好几天了", WORKER, "李建国", GROUP)
    assert sender_of_last(tg_bot, "yg-1") == f"李建国#tg{WORKER}"  # not linked by the group /iam
    [ticket] = tg_bot.http.get("/tickets", params={"chat_id": "yg-1"}).json()["tickets"]

    # the reported attack: another member replays it in a private chat with the bot, then resolves
    assert "已失效" in say(tg_bot, telegram, f"/iam {code}", STRANGER, "张三", STRANGER)
    say(tg_bot, telegram, f"#{ticket['id']} 已处理", STRANGER, "张三", GROUP)
    assert sender_of_last(tg_bot, "yg-1") == f"张三#tg{STRANGER}"
    assert tg_bot.ticket(ticket["id"])["state"] == "reported"
    assert "已失效" in say(tg_bot, telegram, f"/iam {code}", WORKER, "李建国", WORKER)  # the worker too


def test_an_identity_code_links_once_in_a_private_chat(tg_bot: InProcessBot, telegram: FakeTelegram) -> None:
    say(tg_bot, telegram, f"/bind {codes.bind_code('yg-2')}", 1, "管理员", OTHER_GROUP)
    code = codes.identity_code("w-yg-2")
    assert "已确认" in say(tg_bot, telegram, f"/iam {code}", 7001, "王秀英", 7001)
    assert "已失效" in say(tg_bot, telegram, f"/iam {code}", 7002, "路人", 7002)
    say(tg_bot, telegram, "5号楼门口有积水", 7001, "王秀英", OTHER_GROUP)
    assert sender_of_last(tg_bot, "yg-2") == "w-yg-2"
    say(tg_bot, telegram, "5号楼门口有积水", 7002, "路人", OTHER_GROUP)
    assert sender_of_last(tg_bot, "yg-2") == "路人#tg7002"


def test_an_expired_code_is_refused(tg_bot: InProcessBot, telegram: FakeTelegram) -> None:
    stale = codes.issue(Purpose.IAM, "w-hh-1", issued_at=time.time() - 2 * 24 * 3600)
    assert "已失效" in say(tg_bot, telegram, f"/iam {stale}", 7003, "张伟", 7003)
    old_bind = codes.issue(Purpose.BIND, "hh-1", issued_at=time.time() - 2 * 24 * 3600)
    assert "已失效" in say(tg_bot, telegram, f"/bind {old_bind}", 1, "管理员", -100777)


def test_a_bind_code_binds_one_group_only(tg_bot: InProcessBot, telegram: FakeTelegram) -> None:
    code = codes.bind_code("df-1")
    assert "已绑定" in say(tg_bot, telegram, f"/bind {code}", 1, "管理员", -100881)
    assert "已失效" in say(tg_bot, telegram, f"/bind {code}", 9, "别的群主", -100882)
    say(tg_bot, telegram, "1号楼停电了", 9, "别的群主", -100882)  # an unbound group: ignored, nothing stored
    assert tg_bot.chat("df-1") == []


# --------------------------------------------------------------------------------------- WeCom


@pytest.fixture(scope="module")
def wc_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    fake = FakeWechat(CORP, WC_SECRET, wecom=True).start()
    bot = InProcessBot(tmp_path_factory.mktemp("wc-codes"), GRIDBOT_WECOM_CORP_ID=CORP, GRIDBOT_WECOM_TOKEN=WC_TOKEN,
                       GRIDBOT_WECOM_AES_KEY=WC_AES, GRIDBOT_WECOM_API_BASE=fake.base)  # fmt: skip
    yield bot
    bot.close()
    fake.stop()


def wecom(bot: InProcessBot, path: str, inner: str, receive_id: str, as_json: bool) -> str:
    """One sealed WeCom callback; the decrypted text of the passive reply ("" for none)."""
    sealed = CRYPTO.encrypt(inner, receive_id)
    encrypt = sealed.decode() if isinstance(sealed, bytes) else str(sealed)
    ts, nonce = str(int(time.time())), f"n{next(_ids)}"
    signature = hashlib.sha1("".join(sorted([WC_TOKEN, ts, nonce, encrypt])).encode()).hexdigest()
    params = {"timestamp": ts, "nonce": nonce, "msg_signature": signature}
    with bot.client() as client:
        if as_json:
            response = client.post(path, params=params, json={"encrypt": encrypt})
        else:
            body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
            response = client.post(path, params=params, content=body)
    assert response.status_code == 200, response.text
    if not response.content:
        return ""
    if as_json:
        return passive_text(json.loads(CRYPTO.decrypt(response.json()["encrypt"], receive_id)))
    outer = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", response.text)
    assert outer is not None, response.text
    return _content(CRYPTO.decrypt(outer.group(1), receive_id))


def _content(xml: Any) -> str:
    return str(fromstring(xml.encode() if isinstance(xml, str) else xml).findtext("Content"))


def aibot(bot: InProcessBot, text: str, chat: str = "wrkGROUP1", userid: str = "zhangsan") -> str:
    event = {"msgid": f"m{next(_ids)}", "aibotid": "AIBOT1", "chatid": chat, "chattype": "group",
             "from": {"userid": userid}, "msgtype": "text", "text": {"content": f"@网格通 {text}"}}  # fmt: skip
    return wecom(bot, "/wecom/aibot", json.dumps(event, ensure_ascii=False), "", True)


def app(bot: InProcessBot, userid: str, text: str) -> str:
    xml = (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           f"<Content><![CDATA[{text}]]></Content><MsgId>{next(_ids) + 90000}</MsgId>"
           f"<AgentID>{WC_AGENT}</AgentID></xml>")  # fmt: skip
    return wecom(bot, "/wecom/app", xml, CORP, False)


def test_wecom_codes_are_single_use_and_an_identity_code_in_a_group_is_burnt(wc_bot: InProcessBot) -> None:
    bind = codes.bind_code("hh-2")
    assert "荷花社区第2微网格" in aibot(wc_bot, f"/bind {bind}")
    assert "已失效" in aibot(wc_bot, f"/bind {bind}", chat="wrkGROUP2")

    said_in_group = codes.identity_code("w-hh-2")
    refused = aibot(wc_bot, f"/iam {said_in_group}", userid="liufang")
    assert "私聊" in refused and "作废" in refused
    assert "已失效" in app(wc_bot, "mallory", f"/iam {said_in_group}")
    assert "名单" in app(wc_bot, "mallory", "我的工单")  # mallory is still nobody

    private = codes.identity_code("w-hh-2")
    assert "已确认" in app(wc_bot, "liufang", f"/iam {private}")
    assert "已失效" in app(wc_bot, "mallory", f"/iam {private}")
    assert "名单" in app(wc_bot, "mallory", "我的工单")
