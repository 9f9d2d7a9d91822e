"""The WeChat Official Account through its real wire format: signed (and in safe mode AES-encrypted)
XML callbacks generated here, passive replies within the 5-second budget, later status through the
customer-service API of a local fake WeChat server, its 5-per-48-h window, and hostile input."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from werobot.crypto import MessageCrypt

from tests.e2e.helpers import Api, wait_for
from tests.fakes.http import FakeServer, JsonHandler
from tests.fakes.wechat_api import FakeWechat

TOKEN, APPID, APPSECRET = "gridbotToken1", "wx1234567890abcdef", "fake-app-secret"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")
POLICY = str(Path(__file__).parent / "conversations" / "policy.yml")
_ids = itertools.count(7_000_000)


@pytest.fixture
def fake() -> Iterator[FakeWechat]:
    server = FakeWechat(APPID, APPSECRET).start()
    yield server
    server.stop()
    assert server.unexpected == [], server.unexpected


def signed(timestamp: int | None = None, token: str = TOKEN) -> dict[str, str]:
    ts, nonce = str(timestamp or int(time.time())), f"n{next(_ids)}"
    signature = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()
    return {"timestamp": ts, "nonce": nonce, "signature": signature}


def text_xml(openid: str, content: str, msg_id: int | None = None) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_gridbot]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id or next(_ids)}</MsgId></xml>")  # fmt: skip


def event_xml(openid: str, event: str, key: str = "") -> str:
    return (f"<xml><ToUserName><![CDATA[gh_gridbot]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")  # fmt: skip


def voice_xml(openid: str) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_gridbot]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
            f"<MediaId><![CDATA[m1]]></MediaId><Format><![CDATA[amr]]></Format>"
            f"<MsgId>{next(_ids)}</MsgId></xml>")  # fmt: skip


def reply_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    match = re.search(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", response.text, re.S)
    return match.group(1) if match else response.text


def outbox_sent(api: Api) -> set[int]:
    sent = api.http.get("/outbox", params={"status": "sent", "limit": 1000}).json()["messages"]
    return {m["message_id"] for m in sent}


def start(bot_factory: Callable[..., Any], fake: FakeWechat, tmp_path: Path, **extra: str) -> Any:
    bot = bot_factory(
        GRIDBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'oa.db'}", GRIDBOT_POLICIES=POLICY,
        GRIDBOT_WECHAT_APPID=APPID, GRIDBOT_WECHAT_TOKEN=TOKEN, GRIDBOT_WECHAT_APPSECRET=APPSECRET,
        GRIDBOT_WECHAT_API_BASE=fake.base, **extra,
    )  # fmt: skip
    bot.start()
    return bot


def test_a_resident_reports_through_the_official_account_and_hears_back(
    fake: FakeWechat, rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path
) -> None:
    bot = start(bot_factory, fake, tmp_path, GRIDBOT_NLU_URL=rasa_url)
    oa, api = f"{bot.url}/wechat/oa", Api(bot.url)
    resident = "oOPENID-zhang-0001"

    # URL verification, forged signatures and replays
    assert httpx.get(oa, params={**signed(), "echostr": "e123"}).text == "e123"
    assert httpx.get(oa, params={**signed(token="wrong"), "echostr": "e"}).status_code == 403
    assert httpx.get(oa, params={**signed(int(time.time()) - 3600), "echostr": "e"}).status_code == 403

    # scanning the grid's QR code binds the resident; a report gets its ticket in the passive reply
    welcome = reply_text(httpx.post(oa, params=signed(), content=event_xml(resident, "subscribe", "qrscene_yg-1")))
    assert "阳光社区第1微网格" in welcome
    answer = reply_text(httpx.post(oa, params=signed(), content=text_xml(resident, "3号楼楼道里垃圾堆了好几天了")))
    tickets = api.http.get("/tickets", params={"chat_id": "yg-1"}).json()["tickets"]
    assert len(tickets) == 1 and f"#{tickets[0]['id']}" in answer and "环境卫生" in answer
    tid = tickets[0]["id"]
    assert tickets[0]["reporter"].startswith("微信用户0001#wx")

    # WeChat retries: the same MsgId four times at once is one message, one ticket
    storm = text_xml(resident, "5号楼下水管爆了 水漫出来了", msg_id=424242)
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: httpx.post(oa, params=signed(), content=storm, timeout=15).status_code,
                              range(4)))  # fmt: skip
    assert codes == [200] * 4
    water = [t for t in api.http.get("/tickets", params={"chat_id": "yg-1"}).json()["tickets"]
             if t["type"] == "report_water"]  # fmt: skip
    assert len(water) == 1

    # other message types, strangers, hostile and broken XML
    assert "只能处理文字" in reply_text(httpx.post(oa, params=signed(), content=voice_xml(resident)))
    assert "扫描" in reply_text(httpx.post(oa, params=signed(), content=text_xml("oSTRANGER", "路灯坏了")))
    assert httpx.post(oa, params=signed(), content=event_xml(resident, "CLICK", "menu")).text == "success"
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            "<xml><Content>&lol2;</Content></xml>")  # fmt: skip
    assert httpx.post(oa, params=signed(), content=bomb).status_code == 400
    external = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>'
    assert httpx.post(oa, params=signed(), content=external).status_code == 400
    assert httpx.post(oa, params=signed(), content="<xml><Content>broken").status_code == 400
    assert httpx.post(oa, params=signed(token="forged"), content=text_xml(resident, "x")).status_code == 403

    # the worker works in the group: the resident hears each step through the customer-service API,
    # five within the 48-hour window; the rest waits for the resident's next message
    api.say("yg-1", "w-yg-1", f"#{tid} 收到")
    assert "接单" in fake.wait_to(resident, f"#{tid}")
    for n in range(4):
        api.say("yg-1", "w-yg-1", f"#{tid} 第{n}次进展：已联系环卫")
    fake.wait_to(resident, "第3次进展")
    resolved = api.say("yg-1", "w-yg-1", f"#{tid} 已处理，垃圾清运完了")
    refused = api.say("yg-1", "w-yg-1", f"#{tid} 已处理")  # a refusal meant for the worker: never sent to the resident
    answers = {r["message_id"] for r in resolved["replies"] + refused["replies"]}
    assert answers
    # the outbox marks a row sent only after the WeChat adapter has sent or held it: once both answers
    # are sent, anything they were going to send to the resident has been sent
    wait_for(lambda: answers <= outbox_sent(api), 10, "the outbox to deliver the answers to 已处理")
    assert len(fake.to(resident)) == 5 and not any("评价" in t for t in fake.to(resident))
    thanks = reply_text(httpx.post(oa, params=signed(), content=text_xml(resident, "满意")))
    assert "请回复 1-5 分" in thanks and "5 分" in thanks  # the held 请评价 and the thanks, in one reply
    assert "正在等居民确认" not in thanks
    assert (api.ticket(tid)["state"], api.ticket(tid)["rating"]) == ("closed", 5)


def test_safe_mode_decrypts_callbacks_and_encrypts_replies(
    fake: FakeWechat, rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path
) -> None:
    bot = start(bot_factory, fake, tmp_path, GRIDBOT_NLU_URL=rasa_url, GRIDBOT_WECHAT_AES_KEY=AES_KEY)
    oa = f"{bot.url}/wechat/oa"
    crypt = MessageCrypt(TOKEN, AES_KEY, APPID)

    def encrypted(xml: str) -> tuple[dict[str, str], str]:
        params = signed()
        wrapped = crypt.encrypt_message(xml, params["timestamp"], params["nonce"])
        encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", wrapped).group(1)  # type: ignore[union-attr]
        msg_signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", wrapped).group(1)  # type: ignore[union-attr]
        body = f"<xml><ToUserName><![CDATA[gh_gridbot]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        return {**params, "encrypt_type": "aes", "msg_signature": msg_signature}, body

    params, body = encrypted(event_xml("oSAFE-0002", "SCAN", "hh-1"))
    response = httpx.post(oa, params=params, content=body)
    assert response.status_code == 200 and "<Encrypt>" in response.text
    inner = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", response.text).group(1)  # type: ignore[union-attr]
    assert "荷花社区第1微网格" in crypt.prp_crypto.decrypt(inner, APPID).decode()
    forged = {**params, "msg_signature": "0" * 40}
    assert httpx.post(oa, params=forged, content=body).status_code == 403
    params, body = encrypted(text_xml("oSAFE-0002", "东门那个井盖没了 很危险"))
    reply = httpx.post(oa, params=params, content=body)
    inner = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", reply.text).group(1)  # type: ignore[union-attr]
    assert "公共设施" in crypt.prp_crypto.decrypt(inner, APPID).decode()


class SlowRasa(FakeServer):
    """A Rasa stand-in that is ready (/status) but takes 7 s to parse: the handling misses the 5 s."""

    def __init__(self) -> None:
        class Handler(JsonHandler):
            def do_GET(self) -> None:
                self.reply_json({"model_file": "slow.tar.gz"})

            def do_POST(self) -> None:
                self.read_body()
                time.sleep(7)
                self.reply_json({"intent": {"name": "report_power_gas", "confidence": 0.99}, "entities": [],
                                 "intent_ranking": [{"name": "report_power_gas", "confidence": 0.99}]})  # fmt: skip

        super().__init__(Handler)


def test_an_answer_slower_than_the_5_second_budget_goes_out_later(
    fake: FakeWechat, bot_factory: Callable[..., Any], tmp_path: Path
) -> None:
    slow = SlowRasa().start()
    try:
        bot = start(bot_factory, fake, tmp_path, GRIDBOT_NLU_URL=slow.base, GRIDBOT_NLU_TIMEOUT_S="10")
        oa = f"{bot.url}/wechat/oa"
        resident = "oSLOW-0003"
        reply_text(httpx.post(oa, params=signed(), content=event_xml(resident, "subscribe", "qrscene_df-1")))
        started = time.monotonic()
        response = httpx.post(oa, params=signed(), content=text_xml(resident, "1号楼停电了 整栋楼都没电"), timeout=15)
        assert response.text == "success" and time.monotonic() - started < 5.5
        assert "供电" in fake.wait_to(resident, "#", timeout_s=25)  # the ack, through the customer-service API
    finally:
        slow.stop()


def xml_of(openid: str, fields: dict[str, str]) -> str:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (f"<xml><ToUserName><![CDATA[gh_gridbot]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime>{body}</xml>")  # fmt: skip


EVERY_TYPE = [
    ({"MsgType": "image", "PicUrl": "http://mmbiz.example/1.jpg", "MediaId": "m1", "MsgId": "9001"}, "补充"),
    ({"MsgType": "voice", "MediaId": "m2", "Format": "amr", "MsgId": "9002"}, "只能处理文字"),
    ({"MsgType": "voice", "MediaId": "m3", "Format": "amr", "Recognition": "大家好", "MsgId": "9003"}, "success"),
    ({"MsgType": "video", "MediaId": "m4", "ThumbMediaId": "t4", "MsgId": "9004"}, "只能处理文字"),
    ({"MsgType": "shortvideo", "MediaId": "m5", "ThumbMediaId": "t5", "MsgId": "9005"}, "只能处理文字"),
    ({"MsgType": "location", "Location_X": "30.27", "Location_Y": "120.15", "Scale": "15",
      "Label": "阳光小区东门", "MsgId": "9006"}, "补充"),
    ({"MsgType": "link", "Title": "t", "Description": "d", "Url": "http://x", "MsgId": "9007"}, "只能处理文字"),
    ({"MsgType": "file", "Title": "a.pdf", "MsgId": "9008"}, "只能处理文字"),
    ({"MsgType": "event", "Event": "unsubscribe"}, "success"),
    ({"MsgType": "event", "Event": "LOCATION", "Latitude": "30.2", "Longitude": "120.1", "Precision": "50"}, "success"),
    ({"MsgType": "event", "Event": "CLICK", "EventKey": "menu_1"}, "success"),
    ({"MsgType": "event", "Event": "VIEW", "EventKey": "http://x"}, "success"),
    ({"MsgType": "event", "Event": "TEMPLATESENDJOBFINISH", "Status": "success"}, "success"),
    ({"MsgType": "event", "Event": "SCAN", "EventKey": "no-such-grid"}, "扫描"),
    ({"MsgType": "event", "Event": "subscribe"}, "扫描"),  # followed without a grid's QR code
]  # fmt: skip


def test_every_message_type_gets_a_polite_reply_or_silence_never_an_error(
    fake: FakeWechat, rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path
) -> None:
    bot = start(bot_factory, fake, tmp_path, GRIDBOT_NLU_URL=rasa_url)
    oa, resident = f"{bot.url}/wechat/oa", "oTYPES-0004"
    reply_text(httpx.post(oa, params=signed(), content=event_xml(resident, "subscribe", "qrscene_xh-1")))
    reply_text(httpx.post(oa, params=signed(), content=text_xml(resident, "东门那个井盖没了 很危险")))
    for fields, expected in EVERY_TYPE:
        response = httpx.post(oa, params=signed(), content=xml_of(resident, fields), timeout=15)
        assert response.status_code == 200, (fields, response.text)
        assert expected in reply_text(response), (fields, response.text)
