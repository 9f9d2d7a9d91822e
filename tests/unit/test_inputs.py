"""What the HTTP edge takes from outside (`bot.inputs`, `bot.messages.storable`, the chat token reader,
the error texts): refused with a 4xx, or made storable, never left to fail deep inside as a 500."""

from __future__ import annotations

import json

import pytest
from starlette.exceptions import HTTPException

from bot.channels.webchat import read_token, sign
from bot.errors import MESSAGES, ApiError, _error_of
from bot.inputs import MAX_EXTERNAL_ID, MAX_JSON_DEPTH, external_id, json_body
from bot.messages import MAX_CLIENT_ID, Attachment, AttachmentKind, InboundMessage, storable

SECRET = b"k" * 32


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
     json.dumps(json.loads("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))).encode(),
     b'{"update_id": 100000000000000000000000000000}', b'{"id": -9223372036854775809}', b'{"x": NaN}',
     b'{"x": Infinity}', b"{nope", b"\xff\xfe\xfa", "路灯".encode("gbk")],
    ids=["deep array", "deep object", "one level too deep", "past int64", "below int64", "NaN", "Infinity",
         "broken", "invalid utf-8", "gbk"],
)  # fmt: skip
def test_json_that_is_no_json_a_bomb_or_out_of_range_is_400(body: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        json_body(body)
    assert refused.value.status == 400


def test_json_within_the_rules_is_read_in_any_encoding_json_knows() -> None:
    value = {"update_id": 2**63 - 1, "message": {"text": "路灯坏了", "chat": {"id": -(2**63)}}}
    for encoding in ("utf-8", "utf-16", "utf-32"):
        assert json_body(json.dumps(value, ensure_ascii=False).encode(encoding)) == value
    nested = json.loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert json_body(json.dumps(nested)) == nested


@pytest.mark.parametrize("value", ["", None, "x" * (MAX_EXTERNAL_ID + 1), "o1\x00"])
def test_a_platform_id_that_does_not_fit_its_column_is_400(value: object) -> None:
    with pytest.raises(ApiError) as refused:
        external_id(value, "userid")
    assert refused.value.status == 400


def test_storable_text_drops_nul_and_replaces_lone_surrogates() -> None:
    assert storable("3号楼\x00路灯\x00坏了") == "3号楼路灯坏了"
    assert storable("a\ud800b\udfff") == "a\ufffdb\ufffd"
    assert storable("正常的话 😀") == "正常的话 😀"


def test_every_inbound_message_is_storable_where_it_is_made() -> None:
    photo = Attachment(AttachmentKind.IMAGE, "/chat/media/\x00x.png", label="门\x00口")
    message = InboundMessage("yg-1\x00", "张\x00阿姨", "路灯\x00坏了\ud800", 1, "c\x00-1", attachments=(photo,))
    assert (message.chat_id, message.sender, message.text, message.client_id) == (
        "yg-1", "张阿姨", "路灯坏了\ufffd", "c-1")  # fmt: skip
    assert (message.attachments[0].url, message.attachments[0].label) == ("/chat/media/x.png", "门口")


def test_a_client_id_longer_than_its_column_is_replaced_by_its_digest() -> None:
    long_id = "oa-" + "9" * 300
    first, retry = (
        InboundMessage("yg-1", "a", "x", client_id=long_id),
        InboundMessage("yg-1", "a", "x", client_id=long_id),
    )
    assert first.client_id == retry.client_id  # a retry still dedupes
    assert first.client_id is not None and len(first.client_id) <= MAX_CLIENT_ID
    assert InboundMessage("yg-1", "a", "x", client_id=long_id + "0").client_id != first.client_id
    assert InboundMessage("yg-1", "a", "x", client_id="tg-1-2").client_id == "tg-1-2"


@pytest.mark.parametrize("token", ["abc.令牌", "令牌", "é.é", "x" * 5000, "", None, "!!!.0123", "a" * 10 + ".zz"])
def test_a_chat_token_that_is_not_ours_is_401_whatever_it_holds(token: str | None) -> None:
    with pytest.raises(ApiError) as refused:
        read_token(SECRET, token)
    assert refused.value.status == 401


def test_a_chat_token_of_ours_is_read() -> None:
    assert read_token(SECRET, sign(SECRET, "yg-1", "张阿姨")) == ("yg-1", "张阿姨")


def test_the_frameworks_english_details_give_way_to_the_bilingual_message() -> None:
    assert _error_of(HTTPException(400, "There was an error parsing the body")) == MESSAGES[400]
    assert _error_of(HTTPException(404)) == MESSAGES[404]
    assert _error_of(HTTPException(403, "只有系统管理员可以使用这个页面")) == "只有系统管理员可以使用这个页面"
    assert "已保存" not in MESSAGES[500]  # a failure may come before the message was stored
