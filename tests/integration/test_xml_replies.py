"""The XML of passive replies survives whatever text it carries (issue 18, finding 13). Seen before:
the WeCom app reply was an f-string CDATA, so a place named with `]]>` broke the worker's reply.
Here a WeChat resident shares a place called `东门]]><b>A&B</b>`; the answer to them (Official
Account, safe mode) and the worker's `我的工单` from the WeCom app both parse and read it back
whole. The whole bot runs in-process (keyword rules, SQLite) against local fakes."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import time
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape

import pytest
from defusedxml.ElementTree import fromstring
from wechatpy.enterprise.crypto import PrpCrypto
from werobot.crypto import MessageCrypt

from bot.channels.xmlreply import cdata, xml_message
from tests.fakes.wechat_api import FakeWechat
from tests.inproc import InProcessBot

PLACE = "东门]]><b>A&B</b>"
OA_TOKEN, APPID, APPSECRET = "xmlToken1", "wx0000000000xml000", "oa-secret"
OA_AES = base64.b64encode(bytes(range(5, 37))).decode().rstrip("=")
CORP, WC_TOKEN = "wwxml0000000000000", "wcXmlToken"
WC_AES = base64.b64encode(bytes(range(6, 38))).decode().rstrip("=")
_ids = itertools.count(1)


@pytest.mark.parametrize(
    "text", ["]]>", "a]]>b]]>c", "]]]]>", "]]", "<b>&amp;</b>", "\"'", "第1行\n第2行\t", "🙂 表情", PLACE, ""]
)
def test_any_text_reads_back_whole(text: str) -> None:
    root = fromstring(xml_message([("Content", text), ("CreateTime", 1700000000), ("MsgType", "text")]))
    assert root.findtext("Content") == text
    assert root.findtext("CreateTime") == "1700000000" and root.findtext("MsgType") == "text"


def test_what_xml_cannot_carry_is_dropped_and_names_are_checked() -> None:
    dirty = "a\x00b\x01c\x1bd\ud800e"
    assert fromstring("<x>" + cdata(dirty) + "</x>").text == "abcde"
    assert fromstring(xml_message([("Content", dirty)]).encode("utf-8")).findtext("Content") == "abcde"
    with pytest.raises(ValueError):
        xml_message([("Content><evil", "x")])


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    fake = FakeWechat(APPID, APPSECRET).start()
    running = InProcessBot(
        tmp_path_factory.mktemp("xml"),
        GRIDBOT_WECHAT_APPID=APPID, GRIDBOT_WECHAT_TOKEN=OA_TOKEN, GRIDBOT_WECHAT_AES_KEY=OA_AES,
        GRIDBOT_WECHAT_APPSECRET=APPSECRET, GRIDBOT_WECHAT_API_BASE=fake.base,
        GRIDBOT_WECOM_CORP_ID=CORP, GRIDBOT_WECOM_TOKEN=WC_TOKEN, GRIDBOT_WECOM_AES_KEY=WC_AES,
    )  # fmt: skip
    yield running
    running.close()
    fake.stop()


def oa(bot: InProcessBot, inner: str) -> Any:
    """One safe-mode Official Account callback; the decrypted passive reply, parsed."""
    crypt = MessageCrypt(OA_TOKEN, OA_AES, APPID)
    ts, nonce = str(int(time.time())), f"n{next(_ids)}"
    signature = hashlib.sha1("".join(sorted([OA_TOKEN, ts, nonce])).encode()).hexdigest()
    wrapped = fromstring(crypt.encrypt_message(inner, ts, nonce))
    params = {"timestamp": ts, "nonce": nonce, "signature": signature, "encrypt_type": "aes",
              "msg_signature": wrapped.findtext("MsgSignature")}  # fmt: skip
    body = f"<xml><ToUserName>gh_gridbot</ToUserName><Encrypt>{wrapped.findtext('Encrypt')}</Encrypt></xml>"
    with bot.client() as client:
        response = client.post("/wechat/oa", params=params, content=body)
    assert response.status_code == 200, response.text
    envelope = fromstring(response.content)
    assert envelope.findtext("Nonce") == nonce and envelope.findtext("TimeStamp") == ts
    return fromstring(crypt.prp_crypto.decrypt(envelope.findtext("Encrypt"), APPID))


def oa_xml(openid: str, **fields: str) -> str:
    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    return (f"<xml><ToUserName>gh_gridbot</ToUserName><FromUserName>{openid}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime>{body}</xml>")  # fmt: skip


def wecom_app(bot: InProcessBot, userid: str, text: str) -> Any:
    """One sealed WeCom app message; the decrypted passive reply, parsed."""
    crypto = PrpCrypto(base64.b64decode(WC_AES + "="))
    inner = (f"<xml><ToUserName>{CORP}</ToUserName><FromUserName>{userid}</FromUserName>"
             f"<CreateTime>{int(time.time())}</CreateTime><MsgType>text</MsgType><Content>{escape(text)}</Content>"
             f"<MsgId>{next(_ids) + 70000}</MsgId><AgentID>1000002</AgentID></xml>")  # fmt: skip
    sealed = crypto.encrypt(inner, CORP)
    encrypt = sealed.decode() if isinstance(sealed, bytes) else str(sealed)
    ts, nonce = str(int(time.time())), f"n{next(_ids)}"
    params = {
        "timestamp": ts,
        "nonce": nonce,
        "msg_signature": hashlib.sha1("".join(sorted([WC_TOKEN, ts, nonce, encrypt])).encode()).hexdigest(),
    }
    with bot.client() as client:
        response = client.post("/wecom/app", params=params, content=f"<xml><Encrypt>{encrypt}</Encrypt></xml>")
    assert response.status_code == 200, response.text
    envelope = fromstring(response.content)
    expected = hashlib.sha1("".join(sorted([WC_TOKEN, envelope.findtext("TimeStamp"), nonce,
                                            envelope.findtext("Encrypt")])).encode()).hexdigest()  # fmt: skip
    assert envelope.findtext("MsgSignature") == expected and envelope.findtext("Nonce") == nonce
    return fromstring(crypto.decrypt(envelope.findtext("Encrypt"), CORP))


def test_a_place_named_with_markup_survives_the_official_account_reply(bot: InProcessBot) -> None:
    resident = "oXML-0001"
    welcome = oa(bot, oa_xml(resident, MsgType="event", Event="subscribe", EventKey="qrscene_hh-2"))
    assert "荷花社区第2微网格" in welcome.findtext("Content") and welcome.findtext("ToUserName") == resident
    asked = oa(bot, oa_xml(resident, MsgType="text", Content="路灯坏了", MsgId=str(next(_ids) + 80000)))
    assert "哪" in asked.findtext("Content")
    located = oa(bot, oa_xml(resident, MsgType="location", Location_X="30.27", Location_Y="120.15", Scale="15",
                             Label=PLACE, MsgId=str(next(_ids) + 80000)))  # fmt: skip
    assert PLACE in located.findtext("Content"), located.findtext("Content")
    assert re.search(r"#\d+", located.findtext("Content"))


def test_a_place_named_with_markup_survives_the_wecom_app_reply(bot: InProcessBot) -> None:
    place = {"kind": "location", "lat": 30.1, "lng": 120.2, "label": PLACE}  # the answer to 哪栋楼、哪个位置
    for message in ({"sender": "居民甲", "text": "路灯坏了"}, {"sender": "居民甲", "attachments": [place]}):
        assert bot.http.post("/chats/hh-1/messages", json=message).status_code == 201
    mine = wecom_app(bot, "w-hh-1", "我的工单")  # the worker's WeCom userid is their directory id
    assert PLACE in mine.findtext("Content"), mine.findtext("Content")
    assert (mine.findtext("ToUserName"), mine.findtext("FromUserName"), mine.findtext("MsgType")) == (
        "w-hh-1", CORP, "text")  # fmt: skip
