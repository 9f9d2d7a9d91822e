"""Property-based tests of every webhook and API endpoint of a real bot process (keyword rules NLU,
SQLite; Telegram, the Official Account and WeCom all on, against local fakes): whatever arrives,
the answer is never a 5xx and a refused request (4xx) writes nothing."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from wechatpy.enterprise.crypto import PrpCrypto

from tests.conftest import API_TOKEN, BotProcess
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wechat_api import FakeWechat

TG_TOKEN, TG_SECRET = "123456:FUZZ-token", "fuzz-secret"
OA_TOKEN, OA_APPID, OA_SECRET = "oaToken1", "wx00000000000fuzz0", "oa-secret"
WC_CORP, WC_TOKEN, WC_SECRET, WC_AGENT = "wwfuzz0000000000", "wcToken1", "wc-secret", "1000002"
WC_AES = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")
CRYPTO = PrpCrypto(base64.b64decode(WC_AES + "="))
_nonce = itertools.count(1)
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=25,
)
TEXT = st.text(max_size=2100)  # around the 2,000-character limit
MAYBE = st.one_of(st.none(), st.integers(-5, 10**12), st.text(max_size=40), st.booleans())


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeTelegram, FakeWechat, FakeWechat]]:
    servers = (
        FakeTelegram(TG_TOKEN).start(),
        FakeWechat(OA_APPID, OA_SECRET).start(),
        FakeWechat(WC_CORP, WC_SECRET, wecom=True).start(),
    )
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def bot(fakes: tuple[FakeTelegram, FakeWechat, FakeWechat], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("fuzz")
    telegram, oa, wecom = fakes
    env = {
        "GRIDBOT_DATABASE_URL": f"sqlite:///{tmp / 'fuzz.db'}", "GRIDBOT_NLU": "rules",
        "GRIDBOT_VAR_DIR": str(tmp / "var"), "GRIDBOT_DEMO": "true",
        "GRIDBOT_ADMIN_USER": "admin", "GRIDBOT_ADMIN_PASSWORD": "fuzz-admin-1",
        "GRIDBOT_TELEGRAM_TOKEN": TG_TOKEN, "GRIDBOT_TELEGRAM_API_BASE": telegram.base,
        "GRIDBOT_TELEGRAM_SECRET": TG_SECRET,
        "GRIDBOT_WECHAT_APPID": OA_APPID, "GRIDBOT_WECHAT_TOKEN": OA_TOKEN,
        "GRIDBOT_WECHAT_APPSECRET": OA_SECRET, "GRIDBOT_WECHAT_API_BASE": oa.base,
        "GRIDBOT_WECOM_CORP_ID": WC_CORP, "GRIDBOT_WECOM_TOKEN": WC_TOKEN, "GRIDBOT_WECOM_AES_KEY": WC_AES,
        "GRIDBOT_WECOM_SECRET": WC_SECRET, "GRIDBOT_WECOM_AGENT_ID": WC_AGENT,
        "GRIDBOT_WECOM_API_BASE": wecom.base,
    }  # fmt: skip
    process = BotProcess(env, tmp / "bot.log")
    process.start()
    process.db = tmp / "fuzz.db"  # type: ignore[attr-defined]
    process.http = httpx.Client(base_url=process.url, timeout=30)  # type: ignore[attr-defined]
    yield process
    process.stop()


def rows(bot: Any) -> list[int]:
    with sqlite3.connect(bot.db) as db:
        return [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("messages", "tickets", "ticket_events")]


def check(bot: Any, send: Callable[[], httpx.Response]) -> httpx.Response:
    before = rows(bot)
    response = send()
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert rows(bot) == before, "a refused request wrote something"
    return response


@FUZZ
@given(JSON)
def test_api_messages_take_any_json(bot: Any, body: Any) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    check(bot, lambda: bot.http.post("/api/v1/chats/yg-1/messages", json=body, headers=auth))


@FUZZ
@given(
    st.fixed_dictionaries(
        {"sender": st.text(max_size=80), "text": TEXT},
        optional={"reply_to": MAYBE, "client_id": MAYBE, "attachments": JSON},
    ),
    st.sampled_from(["yg-1", "no-such-chat", "../../etc", "%00"]),
)
def test_api_messages_take_any_shaped_message(bot: Any, body: dict[str, Any], chat: str) -> None:
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    check(bot, lambda: bot.http.post(f"/api/v1/chats/{chat}/messages", json=body, headers=auth))


@FUZZ
@given(
    st.sampled_from(
        [
            "/api/v1/tickets",
            "/api/v1/outbox",
            "/api/v1/checkins",
            "/api/v1/bulletins",
            "/api/v1/chats/yg-1/messages",
            "/api/v1/people/w-yg-1/inbox",
        ]
    ),
    st.dictionaries(
        st.sampled_from(["state", "type", "limit", "after", "day", "status", "chat_id"]),
        st.text(max_size=20),
        max_size=3,
    ),
)
def test_api_queries_take_any_parameters(bot: Any, path: str, params: dict[str, str]) -> None:
    check(bot, lambda: bot.http.get(path, params=params, headers={"Authorization": f"Bearer {API_TOKEN}"}))


def telegram_update() -> st.SearchStrategy[Any]:
    chat = st.fixed_dictionaries(
        {"id": st.integers(-(10**13), 10**13), "type": st.sampled_from(["group", "private", "x"])}
    )
    sender = st.fixed_dictionaries(
        {"id": st.integers(1, 2**40), "is_bot": st.booleans(), "first_name": st.text(max_size=30)}
    )
    message = st.fixed_dictionaries(
        {"message_id": st.integers(0, 2**31), "date": st.integers(0, 2**31), "chat": chat},
        optional={"text": TEXT, "from": sender, "reply_to_message": JSON, "photo": JSON, "location": JSON},
    )
    return st.one_of(JSON, st.fixed_dictionaries({"update_id": st.integers(0, 2**31), "message": message}))


@FUZZ
@given(telegram_update())
def test_the_telegram_webhook_takes_any_update(bot: Any, update: Any) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    check(bot, lambda: bot.http.post("/telegram/webhook", json=update, headers=headers))


def oa_signed() -> dict[str, str]:
    ts, nonce = str(int(time.time())), f"n{next(_nonce)}"
    return {
        "timestamp": ts,
        "nonce": nonce,
        "signature": hashlib.sha1("".join(sorted([OA_TOKEN, ts, nonce])).encode()).hexdigest(),
    }


OA_FIELDS = st.dictionaries(
    st.sampled_from(
        [
            "ToUserName",
            "FromUserName",
            "CreateTime",
            "MsgType",
            "Content",
            "MsgId",
            "Event",
            "EventKey",
            "PicUrl",
            "MediaId",
            "Location_X",
            "Location_Y",
            "Label",
            "Recognition",
        ]
    ),
    st.one_of(st.text(max_size=200), st.sampled_from(["text", "image", "event", "subscribe", "SCAN", "location"])),
    max_size=10,
)


def as_xml(fields: dict[str, str]) -> str:
    return "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + "</xml>"


@FUZZ
@given(st.one_of(OA_FIELDS.map(as_xml), st.text(max_size=500)))
@example("<xml><FromUserName>o1</FromUserName><MsgType/></xml>")  # found by this test: werobot's AttributeError
def test_the_official_account_takes_any_signed_body(bot: Any, body: str) -> None:
    check(bot, lambda: bot.http.post("/wechat/oa", params=oa_signed(), content=body.encode("utf-8", "surrogatepass")))


def wecom_post(bot: Any, path: str, inner: str, receive_id: str, as_json: bool) -> httpx.Response:
    sealed = CRYPTO.encrypt(inner, receive_id)
    encrypt = sealed.decode() if isinstance(sealed, bytes) else str(sealed)
    ts, nonce = str(int(time.time())), f"n{next(_nonce)}"
    signature = hashlib.sha1("".join(sorted([WC_TOKEN, ts, nonce, encrypt])).encode()).hexdigest()
    params = {"timestamp": ts, "nonce": nonce, "msg_signature": signature}
    if as_json:
        return bot.http.post(path, params=params, json={"encrypt": encrypt})
    body = f"<xml><ToUserName><![CDATA[{WC_CORP}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return bot.http.post(path, params=params, content=body)


@FUZZ
@given(JSON)
def test_the_wecom_ai_bot_takes_any_sealed_event(bot: Any, event: Any) -> None:
    check(bot, lambda: wecom_post(bot, "/wecom/aibot", json.dumps(event), "", True))


@FUZZ
@given(OA_FIELDS.map(as_xml))
def test_the_wecom_app_takes_any_sealed_message(bot: Any, xml: str) -> None:
    check(bot, lambda: wecom_post(bot, "/wecom/app", xml, WC_CORP, False))


@FUZZ
@given(
    st.binary(max_size=600),
    st.sampled_from(
        [
            "/wecom/aibot",
            "/wecom/app",
            "/wechat/oa",
            "/telegram/webhook",
            "/chat/api/messages",
            "/admin/login",
            "/api/v1/nlu/parse",
        ]
    ),
)
def test_raw_bytes_anywhere(bot: Any, body: bytes, path: str) -> None:
    check(bot, lambda: bot.http.post(path, content=body, params={"timestamp": "1", "nonce": "2", "signature": "3"}))


@FUZZ
@given(st.dictionaries(st.sampled_from(["username", "password", "login_token", "next", "csrf"]), st.text(max_size=300)))
def test_the_admin_login_takes_any_form(bot: Any, form: dict[str, str]) -> None:
    response = check(bot, lambda: bot.http.post("/admin/login", data=form))
    assert response.status_code in (401, 403, 422)
