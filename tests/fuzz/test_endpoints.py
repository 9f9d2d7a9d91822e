"""Property-based tests of every webhook and API endpoint of a real bot process (keyword rules NLU,
on SQLite and on PostgreSQL; Telegram, the Official Account and WeCom all on, against local fakes):
whatever arrives, the answer is never a 5xx and a refused request (4xx) writes nothing. Every route
of the app against chunked, NUL, huge-integer, mis-encoded and deeply nested input:
`test_every_route.py`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import API_TOKEN
from tests.fakes.wechat_api import passive_text
from tests.fuzz.conftest import CRYPTO, TG_SECRET, WC_CORP, FuzzBot, oa_signed, wecom_post

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


def check(bot: FuzzBot, send: Callable[[], httpx.Response]) -> httpx.Response:
    return bot.check(send)


@FUZZ
@given(JSON)
def test_api_messages_take_any_json(bot: FuzzBot, body: Any) -> None:
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
def test_api_messages_take_any_shaped_message(bot: FuzzBot, body: dict[str, Any], chat: str) -> None:
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
def test_api_queries_take_any_parameters(bot: FuzzBot, path: str, params: dict[str, str]) -> None:
    check(bot, lambda: bot.http.get(path, params=params, headers={"Authorization": f"Bearer {API_TOKEN}"}))


DEADLINE = st.sampled_from(["2027-01-20T18:00:00+08:00", "2027-01-20 18:00", "2099-01-01", "2020-01-01", "明天"])


@FUZZ
@given(
    st.fixed_dictionaries(
        {"external_id": st.sampled_from(["BJ-1", "BJ-2"]) | st.text(max_size=140),
         "type": st.sampled_from(["report_water", "consult", "chitchat"]) | st.text(max_size=20),
         "text": TEXT, "grid": st.sampled_from(["yg-1", "yangguang", "hh-2"]) | st.text(max_size=10)},
        optional={"location": st.text(max_size=600) | MAYBE, "deadline": DEADLINE | st.text(max_size=30) | MAYBE},
    )
)  # fmt: skip
def test_api_cases_take_any_shaped_case(bot: FuzzBot, body: dict[str, Any]) -> None:
    """The city platform's cases (12345): a refused one stores nothing, a repeated id changes nothing."""
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    check(bot, lambda: bot.http.post("/api/v1/cases", json=body, headers=auth))


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
def test_the_telegram_webhook_takes_any_update(bot: FuzzBot, update: Any) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    check(bot, lambda: bot.http.post("/telegram/webhook", json=update, headers=headers))


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
def test_the_official_account_takes_any_signed_body(bot: FuzzBot, body: str) -> None:
    check(bot, lambda: bot.http.post("/wechat/oa", params=oa_signed(), content=body.encode("utf-8", "surrogatepass")))


@FUZZ
@given(JSON)
def test_the_wecom_ai_bot_takes_any_sealed_event(bot: FuzzBot, event: Any) -> None:
    check(bot, lambda: wecom_post(bot.http, "/wecom/aibot", json.dumps(event), "", True))


@FUZZ
@given(OA_FIELDS.map(as_xml))
def test_the_wecom_app_takes_any_sealed_message(bot: FuzzBot, xml: str) -> None:
    check(bot, lambda: wecom_post(bot.http, "/wecom/app", xml, WC_CORP, False))


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
def test_raw_bytes_anywhere(bot: FuzzBot, body: bytes, path: str) -> None:
    check(bot, lambda: bot.http.post(path, content=body, params={"timestamp": "1", "nonce": "2", "signature": "3"}))


@FUZZ
@given(st.dictionaries(st.sampled_from(["username", "password", "login_token", "next", "csrf"]), st.text(max_size=300)))
def test_the_admin_login_takes_any_form(bot: FuzzBot, form: dict[str, str]) -> None:
    response = check(bot, lambda: bot.http.post("/admin/login", data=form))
    assert response.status_code in (401, 403, 422)


def test_nul_in_a_message_is_dropped_and_the_message_stored_and_handled(bot: FuzzBot) -> None:
    """PostgreSQL refuses U+0000 in text: the NUL is dropped where the message enters, so it is stored and
    handled on both databases (before, on PostgreSQL: 500, not stored, while the answer said it was kept)."""
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    body = {"sender": "钱\x00阿姨", "text": "3号楼门口\x00的路灯坏了", "client_id": "nul-\x00-1",
            "attachments": [{"kind": "location", "lat": 30.1, "lng": 120.2, "label": "3号楼\x00门口"}]}  # fmt: skip
    answer = check(bot, lambda: bot.http.post("/api/v1/chats/hh-1/messages", json=body, headers=auth))
    assert answer.status_code == 201 and answer.json()["replies"][0]["ticket_id"]
    stored = next(m for m in bot.http.get("/api/v1/chats/hh-1/messages", headers=auth).json()["messages"]
                  if m["message_id"] == answer.json()["message_id"])  # fmt: skip
    assert (stored["sender"], stored["text"]) == ("钱阿姨", "3号楼门口的路灯坏了")
    assert stored["attachments"][0]["label"] == "3号楼门口"
    again = bot.http.post("/api/v1/chats/hh-1/messages", json=body, headers=auth)  # a retry: same client id
    assert again.json()["message_id"] == answer.json()["message_id"]
    token = bot.http.post("/chat/api/session", json={"chat_id": "hh-1", "sender": "孙\x00大爷"}).json()["token"]
    web = bot.http.post("/chat/api/messages", json={"text": "\x00\x00"}, headers={"X-Chat-Token": token})
    assert web.status_code == 422, web.text  # nothing left once the NUL is gone: empty, refused


def test_a_non_ascii_bind_or_iam_code_is_a_bad_code_not_a_crash(bot: FuzzBot) -> None:
    """The HMAC comparison takes ASCII only: a code with 令牌 in it was a 500; it is the bad-code answer."""
    event = {"from": {"userid": "u-bind"}, "chatid": "wc-group-1", "msgtype": "text",
             "text": {"content": "@网格通 /bind abc.令牌"}}  # fmt: skip
    answer = check(bot, lambda: wecom_post(bot.http, "/wecom/aibot", json.dumps(event, ensure_ascii=False), "", True))
    assert answer.status_code == 200
    assert "绑定码无效" in passive_text(json.loads(str(CRYPTO.decrypt(answer.json()["encrypt"], ""))))
    iam = ("<xml><ToUserName>ww</ToUserName><FromUserName>u-iam</FromUserName><CreateTime>1</CreateTime>"
           "<MsgType>text</MsgType><Content>/iam 码.码</Content><MsgId>77</MsgId></xml>")  # fmt: skip
    app = check(bot, lambda: wecom_post(bot.http, "/wecom/app", iam, WC_CORP, False))
    sealed = re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]>", app.text)
    assert app.status_code == 200 and sealed
    assert "绑定码无效" in str(CRYPTO.decrypt(sealed.group(1), WC_CORP))
