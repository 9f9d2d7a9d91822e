"""WeCom through its real wire formats, generated and encrypted here with wechatpy's WeCom crypto:
the AI bot's encrypted JSON group callbacks (empty receive id) and the app's encrypted XML
callbacks (receive id = corp id); pings to staff as app messages and group posts into an appchat,
both to a local fake WeCom API."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from wechatpy.enterprise.crypto import PrpCrypto

from bot.channels.codes import LinkCodes
from tests.conftest import API_TOKEN, ROOT
from tests.e2e.helpers import Api, wait_for
from tests.fakes.wechat_api import FakeWechat, passive_text

CORP, TOKEN, SECRET, AGENT = "ww1234567890abcdef", "wecomToken1", "wecom-app-secret", "1000002"
AES_KEY = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")
POLICY = str(Path(__file__).parent / "conversations" / "policy.yml")
crypto = PrpCrypto(base64.b64decode(AES_KEY + "="))
_ids = itertools.count(1)


@pytest.fixture
def fake() -> Iterator[FakeWechat]:
    server = FakeWechat(CORP, SECRET, wecom=True).start()
    yield server
    server.stop()
    assert server.unexpected == [], server.unexpected


def sign(encrypt: str, timestamp: int | None = None, token: str = TOKEN) -> dict[str, str]:
    ts, nonce = str(timestamp or int(time.time())), f"n{next(_ids)}"
    msg_signature = hashlib.sha1("".join(sorted([token, ts, nonce, encrypt])).encode()).hexdigest()
    return {"timestamp": ts, "nonce": nonce, "msg_signature": msg_signature}


def sealed(plaintext: str, receive_id: str) -> str:
    out = crypto.encrypt(plaintext, receive_id)
    return out.decode() if isinstance(out, bytes) else str(out)


def aibot_event(text: str, userid: str = "zhangsan", chatid: str = "wrkSFfCgAAtest") -> dict[str, Any]:
    return {"msgid": f"m{next(_ids)}", "aibotid": "AIBOT1", "chatid": chatid, "chattype": "group",
            "from": {"userid": userid}, "msgtype": "text", "text": {"content": f"@网格通 {text}"}}  # fmt: skip


def post_aibot(url: str, event: dict[str, Any], **sign_args: Any) -> httpx.Response:
    encrypt = sealed(json.dumps(event, ensure_ascii=False), "")
    return httpx.post(f"{url}/wecom/aibot", params=sign(encrypt, **sign_args), json={"encrypt": encrypt}, timeout=15)


def aibot_reply(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    body = response.json()
    return passive_text(json.loads(crypto.decrypt(body["encrypt"], "")))


def post_app(url: str, userid: str, text: str) -> httpx.Response:
    xml = (f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{userid}]]></FromUserName>"
           f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
           f"<Content><![CDATA[{text}]]></Content><MsgId>{next(_ids) + 90000}</MsgId>"
           f"<AgentID>{AGENT}</AgentID></xml>")  # fmt: skip
    encrypt = sealed(xml, CORP)
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return httpx.post(f"{url}/wecom/app", params=sign(encrypt), content=body, timeout=15)


def app_reply(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", response.text).group(1)  # type: ignore[union-attr]
    inner = crypto.decrypt(encrypt, CORP)
    return re.search(r"<Content><!\[CDATA\[(.*?)\]\]>", inner, re.S).group(1)  # type: ignore[union-attr]


def test_group_reports_through_the_ai_bot_and_staff_act_through_the_app(
    fake: FakeWechat, rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path
) -> None:
    db = tmp_path / "wecom.db"
    bot = bot_factory(
        GRIDBOT_DATABASE_URL=f"sqlite:///{db}", GRIDBOT_NLU_URL=rasa_url, GRIDBOT_POLICIES=POLICY,
        GRIDBOT_WECOM_CORP_ID=CORP, GRIDBOT_WECOM_TOKEN=TOKEN, GRIDBOT_WECOM_AES_KEY=AES_KEY,
        GRIDBOT_WECOM_SECRET=SECRET, GRIDBOT_WECOM_AGENT_ID=AGENT, GRIDBOT_WECOM_API_BASE=fake.base,
    )  # fmt: skip
    bot.start()
    api, codes = Api(bot.url), LinkCodes(API_TOKEN)

    # URL verification of both callbacks decrypts echostr with the right receive id
    for path, receive_id in (("/wecom/aibot", ""), ("/wecom/app", CORP)):
        echo = sealed("echo-123", receive_id)
        assert httpx.get(f"{bot.url}{path}", params={**sign(echo), "echostr": echo}).text == "echo-123"
        assert httpx.get(f"{bot.url}{path}", params={**sign(echo, token="x"), "echostr": echo}).status_code == 403

    # an admin binds the group by @-mentioning the bot; a member's report opens a ticket
    assert "绑定码无效" in aibot_reply(post_aibot(bot.url, aibot_event("/bind bad.code")))
    assert "还没有绑定" in aibot_reply(post_aibot(bot.url, aibot_event("3号楼漏水了")))
    bound = aibot_reply(post_aibot(bot.url, aibot_event(f"/bind {codes.bind_code('hh-2')}")))
    assert "荷花社区第2微网格" in bound
    answer = aibot_reply(post_aibot(bot.url, aibot_event("5号楼下水管爆了 水漫出来了", userid="liuayi")))
    tickets = api.http.get("/tickets", params={"chat_id": "hh-2"}).json()["tickets"]
    assert len(tickets) == 1 and f"#{tickets[0]['id']}" in answer
    tid = tickets[0]["id"]
    assert tickets[0]["reporter"].startswith("liuayi#wc")

    # the worker links their WeCom account through the app; their ping arrives as an app message
    assert "已确认" in app_reply(post_app(bot.url, "liufang", f"/iam {codes.identity_code('w-hh-2')}"))
    api.say("hh-2", "另一位居民", "3号楼门口垃圾堆成山了 好几天没人收")
    assert any("新工单" in t for t in wait_for(lambda: fake.to("liufang"), 25, "the worker's app ping"))
    # the worker resolves the first case from the app, one to one
    done = app_reply(post_app(bot.url, "liufang", f"#{tid} 已处理，已关闭阀门换了水管"))
    assert "评价" in done and api.ticket(tid)["state"] == "resolved"
    assert "名单" in app_reply(post_app(bot.url, "stranger", "#1 已处理"))

    # other message types get a polite reply
    image = {**aibot_event("x"), "msgtype": "image", "image": {"url": "https://x/1.jpg"}}
    assert "只能处理文字" in aibot_reply(post_aibot(bot.url, image))

    # a retry storm of one AI bot message: one ticket
    storm = aibot_event("1号楼停电了 整栋楼都没电", userid="wangdaye")
    with ThreadPoolExecutor(4) as pool:
        codes_ = list(pool.map(lambda _: post_aibot(bot.url, storm).status_code, range(4)))
    assert codes_ == [200] * 4
    power = [t for t in api.http.get("/tickets", params={"chat_id": "hh-2"}).json()["tickets"]
             if t["type"] == "report_power_gas"]  # fmt: skip
    assert len(power) == 1

    # bad input: forged signature, replay, not JSON, hostile XML to the app
    assert post_aibot(bot.url, aibot_event("x"), token="forged").status_code == 403
    assert post_aibot(bot.url, aibot_event("x"), timestamp=int(time.time()) - 3600).status_code == 403
    assert httpx.post(f"{bot.url}/wecom/aibot", params=sign("x"), content=b"{nope").status_code == 400
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>'
    assert httpx.post(f"{bot.url}/wecom/app", params=sign("x"), content=bomb).status_code == 400

    # an appchat bound to the grid receives the group's posts
    bound_chat = subprocess.run(
        [sys.executable, "run_bot.py", "wecom-appchat", "APPCHAT42", "hh-2"], cwd=ROOT, capture_output=True,
        text=True, env={"GRIDBOT_DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert bound_chat.returncode == 0, bound_chat.stderr
    api.say("hh-2", "w-hh-2", f"#{tid} 已处理")  # already resolved: a refusal posted in the group
    wait_for(lambda: fake.to("APPCHAT42"), 25, "a post in the appchat")
