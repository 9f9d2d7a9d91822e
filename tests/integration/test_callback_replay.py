"""Signed platform callbacks cannot be replayed with another body, and with an EncodingAESKey the
Official Account accepts safe mode only (issue 18, finding 6). Seen before: with an AES key set,
plain XML was accepted, and one (timestamp, nonce, signature) sent three times with different
bodies made a bind and a ticket. The whole bot runs in-process (keyword rules, SQLite) against
local fakes of the platform APIs; the shared nonce memory is checked on real Redis."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from wechatpy.enterprise.crypto import PrpCrypto
from werobot.crypto import MessageCrypt

from bot.errors import ApiError
from bot.replay import MemoryNonceStore, ReplayGuard
from storage.redis_nonces import RedisNonceStore
from tests.conftest import REDIS
from tests.fakes.wechat_api import FakeWechat
from tests.inproc import InProcessBot

OA_TOKEN, APPID, APPSECRET = "replayToken1", "wx00000000replay00", "oa-secret"
OA_AES = base64.b64encode(bytes(range(3, 35))).decode().rstrip("=")
CORP, WC_TOKEN = "wwreplay0000000000", "wcReplayToken"
WC_AES = base64.b64encode(bytes(range(4, 36))).decode().rstrip("=")
_ids = itertools.count(1)


def signed(token: str = OA_TOKEN) -> dict[str, str]:
    ts, nonce = str(int(time.time())), f"n{next(_ids)}"
    return {"timestamp": ts, "nonce": nonce, "signature": hashlib.sha1("".join(sorted([token, ts, nonce])).encode())
            .hexdigest()}  # fmt: skip


def event_xml(openid: str, event: str, key: str = "") -> str:
    return (f"<xml><ToUserName><![CDATA[gh_gridbot]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")  # fmt: skip


def text_xml(openid: str, content: str) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_gridbot]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{next(_ids) + 5_000_000}</MsgId></xml>")  # fmt: skip


def inbound_texts(bot: InProcessBot, chat: str) -> list[str]:
    """What was stored as said in `chat`, one-to-one lines included (they stay out of its transcript)."""
    path = bot.settings.database_url.split("///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT text FROM messages WHERE direction = 'in' AND chat_id = ? ORDER BY id", (chat,))
        return [text for (text,) in rows]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWechat]:
    server = FakeWechat(APPID, APPSECRET).start()
    yield server
    server.stop()


def oa_bot(fake: FakeWechat, tmp_path_factory: pytest.TempPathFactory, **extra: str) -> InProcessBot:
    return InProcessBot(tmp_path_factory.mktemp("oa"), GRIDBOT_WECHAT_APPID=APPID, GRIDBOT_WECHAT_TOKEN=OA_TOKEN,
                        GRIDBOT_WECHAT_APPSECRET=APPSECRET, GRIDBOT_WECHAT_API_BASE=fake.base, **extra)  # fmt: skip


@pytest.fixture(scope="module")
def plain(fake: FakeWechat, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    bot = oa_bot(fake, tmp_path_factory)
    yield bot
    bot.close()


@pytest.fixture(scope="module")
def safe(fake: FakeWechat, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    bot = oa_bot(fake, tmp_path_factory, GRIDBOT_WECHAT_AES_KEY=OA_AES)
    yield bot
    bot.close()


def test_one_signed_query_with_another_body_is_a_replay(plain: InProcessBot) -> None:
    params = signed()
    with plain.client() as oa:
        bind = event_xml("oREPLAY-1", "subscribe", "qrscene_yg-1")
        assert "阳光社区第1微网格" in oa.post("/wechat/oa", params=params, content=bind).text
        report = text_xml("oREPLAY-1", "3号楼楼道里垃圾堆了好几天了")
        replayed = oa.post("/wechat/oa", params=params, content=report)
        assert replayed.status_code == 403 and "error" in replayed.json()
        other_grid = oa.post("/wechat/oa", params=params, content=event_xml("oREPLAY-2", "SCAN", "yg-2"))
        assert other_grid.status_code == 403
        # WeChat's own retry: the very same request again is answered (and changes nothing)
        assert "阳光社区第1微网格" in oa.post("/wechat/oa", params=params, content=bind).text
        # a fresh signature carries the report
        assert oa.post("/wechat/oa", params=signed(), content=report).status_code == 200
    assert inbound_texts(plain, "yg-1") == ["3号楼楼道里垃圾堆了好几天了"]
    assert inbound_texts(plain, "yg-2") == []


def test_with_an_aes_key_only_safe_mode_is_accepted(safe: InProcessBot) -> None:
    crypt = MessageCrypt(OA_TOKEN, OA_AES, APPID)
    with safe.client() as oa:
        plain_bind = oa.post("/wechat/oa", params=signed(), content=event_xml("oPLAIN-1", "subscribe", "qrscene_hh-1"))
        assert plain_bind.status_code == 403, plain_bind.text
        params = signed()
        wrapped = crypt.encrypt_message(event_xml("oSAFE-1", "subscribe", "qrscene_hh-1"), params["timestamp"],
                                        params["nonce"])  # fmt: skip
        encrypt = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", wrapped).group(1)  # type: ignore[union-attr]
        msg_signature = re.search(r"<MsgSignature><!\[CDATA\[(.*?)\]\]>", wrapped).group(1)  # type: ignore[union-attr]
        body = f"<xml><ToUserName><![CDATA[gh_gridbot]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        unsigned = oa.post("/wechat/oa", params={**params, "encrypt_type": "aes"}, content=body)
        assert unsigned.status_code == 403  # the Encrypt element alone, without its msg_signature
        sealed = {**params, "encrypt_type": "aes", "msg_signature": msg_signature}
        answer = oa.post("/wechat/oa", params=sealed, content=body)
        assert answer.status_code == 200 and "<Encrypt>" in answer.text
        assert oa.post("/wechat/oa", params=signed(), content=text_xml("oSAFE-1", "路灯坏了 5号楼")).status_code == 403
    assert inbound_texts(safe, "hh-1") == []


# --------------------------------------------------------------------------------------- WeCom


@pytest.fixture(scope="module")
def wecom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    bot = InProcessBot(tmp_path_factory.mktemp("wc"), GRIDBOT_WECOM_CORP_ID=CORP, GRIDBOT_WECOM_TOKEN=WC_TOKEN,
                       GRIDBOT_WECOM_AES_KEY=WC_AES)  # fmt: skip
    yield bot
    bot.close()


def wc_sealed(inner: str, receive_id: str) -> tuple[dict[str, str], str]:
    out = PrpCrypto(base64.b64decode(WC_AES + "=")).encrypt(inner, receive_id)
    encrypt = out.decode() if isinstance(out, bytes) else str(out)
    ts, nonce = str(int(time.time())), f"n{next(_ids)}"
    signature = hashlib.sha1("".join(sorted([WC_TOKEN, ts, nonce, encrypt])).encode()).hexdigest()
    return {"timestamp": ts, "nonce": nonce, "msg_signature": signature}, encrypt


def test_wecom_callbacks_remember_their_nonces_too(wecom: InProcessBot) -> None:
    event: dict[str, Any] = {"msgid": "m-replay-1", "chatid": "wrkREPLAY", "chattype": "group", "msgtype": "text",
                             "from": {"userid": "zhangsan"}, "text": {"content": "@网格通 你好"}}  # fmt: skip
    params, encrypt = wc_sealed(json.dumps(event, ensure_ascii=False), "")
    with wecom.client() as wc:
        first = json.dumps({"encrypt": encrypt})
        assert wc.post("/wecom/aibot", params=params, content=first).status_code == 200
        assert wc.post("/wecom/aibot", params=params, content=first).status_code == 200  # a retry
        other = json.dumps({"encrypt": encrypt, "chatid": "wrkOTHER"})  # the same signed part, another body
        assert wc.post("/wecom/aibot", params=params, content=other).status_code == 403
        app_params, app_encrypt = wc_sealed("<xml><MsgType>event</MsgType><Event>enter_agent</Event></xml>", CORP)
        body = f"<xml><Encrypt><![CDATA[{app_encrypt}]]></Encrypt></xml>"
        assert wc.post("/wecom/app", params=app_params, content=body).status_code == 200
        padded = f"<xml><ToUserName>x</ToUserName><Encrypt><![CDATA[{app_encrypt}]]></Encrypt></xml>"
        assert wc.post("/wecom/app", params=app_params, content=padded).status_code == 403


# ------------------------------------------------------------------------------ the nonce memory


async def test_the_memory_forgets_a_nonce_when_its_timestamp_would_be_refused_anyway() -> None:
    now = [1000.0]
    guard = ReplayGuard("x", 300, MemoryNonceStore(lambda: now[0]), clock=lambda: now[0])
    await guard.admit("1000", "n1", b"a")
    await guard.admit("1000", "n1", b"a")  # the same request again: a retry
    with pytest.raises(ApiError) as refused:
        await guard.admit("1000", "n1", b"b")
    assert refused.value.status == 403
    now[0] = 1302.0  # the timestamp is out of the window now: the check before refuses it, we forget
    await guard.admit("1000", "n1", b"b")
    await ReplayGuard("x", 0).admit("1", "n", b"off")  # GRIDBOT_REPLAY_WINDOW_S=0 turns it off


async def test_every_process_sees_the_nonces_through_redis(redis: Redis) -> None:
    from wiring.parts import nonce_store  # the composition root's choice: Redis when configured

    other = Redis.from_url(REDIS)  # the second process's own connection
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    try:
        store = nonce_store(redis, prefix)
        assert isinstance(store, RedisNonceStore) and nonce_store(None, prefix) is None
        one = ReplayGuard("wechat:wx1", 300, store)
        two = ReplayGuard("wechat:wx1", 300, RedisNonceStore(other, f"{prefix}:nonce"))
        stamp = str(int(time.time()))
        await one.admit(stamp, "n1", b"<xml>bind</xml>")
        await two.admit(stamp, "n1", b"<xml>bind</xml>")  # the platform's retry, to the other process
        with pytest.raises(ApiError):
            await two.admit(stamp, "n1", b"<xml>report</xml>")
        [key] = await redis.keys(f"{prefix}:nonce:*")
        assert 295_000 < await redis.pttl(key) <= 301_000  # kept as long as the timestamp is accepted
    finally:
        await other.aclose()
