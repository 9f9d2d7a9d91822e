"""Web chat tokens and link codes are signed for one purpose each: a `/bind` or `/iam` code is never a
chat token (nor the other kind of code), and names that could pass for the bot, the system or another
channel's resident are never minted or accepted, whether the demo page, an invitation link or API v1
asks (issue 18, finding 4)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator

import httpx
import pytest

from bot.channels.codes import LinkCodes, Purpose
from bot.channels.webchat import chat_secret, sign, verify
from bot.errors import ApiError
from bot.messages import reserved_sender
from config.settings import Settings
from tests.inproc import TOKEN, InProcessBot
from wiring import commands

RESERVED = ["@bind", "@iam", "＠bind", "gridbot", " GridBot ", "system", "System-Admin", "bot", "网格通机器人",
            "张阿姨#tg5151", "微信用户0001#wx123456", "liuayi#wc42", "\u200bsystem", "ｇｒｉｄｂｏｔ"]  # fmt: skip
ORDINARY = ["张阿姨", "w-yg-1", "3#楼王阿姨", "Robert", "李建国（网格员）"]


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    running = InProcessBot(tmp_path_factory.mktemp("tokens"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def web(bot: InProcessBot) -> Iterator[httpx.Client]:
    with bot.client("http://bot/chat/api") as client:
        yield client


def printed(capsys: pytest.CaptureFixture[str], chat: str | None = None, person: str | None = None) -> str:
    """What `run_bot.py telegram-code` prints for the in-process bot's API token: the code alone."""
    commands.telegram_code(Settings(api_token=TOKEN), chat, person)
    return capsys.readouterr().out.split()[-1]


def test_a_printed_bind_or_identity_code_is_no_chat_token(
    web: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    for code in (printed(capsys, chat="yg-1"), printed(capsys, person="w-yg-1")):
        me = web.get("/me", headers={"X-Chat-Token": code})
        assert me.status_code == 401, me.text
        assert "error" in me.json()


@pytest.mark.parametrize("name", RESERVED)
def test_the_demo_page_refuses_reserved_names(web: httpx.Client, name: str) -> None:
    answer = web.post("/session", json={"chat_id": "yg-1", "sender": name})
    assert answer.status_code == 422, answer.text
    assert "保留" in answer.json()["error"]


@pytest.mark.parametrize("name", ORDINARY)
def test_the_demo_page_still_takes_ordinary_names(web: httpx.Client, name: str) -> None:
    answer = web.post("/session", json={"chat_id": "yg-1", "sender": name})
    assert answer.status_code == 200, answer.text
    assert web.get("/me", headers={"X-Chat-Token": answer.json()["token"]}).json()["sender"] == name.strip()


@pytest.mark.parametrize("name", ["system", "@bind", "gridbot", "张阿姨#tg5151"])
def test_api_v1_refuses_reserved_senders_and_stores_nothing(bot: InProcessBot, name: str) -> None:
    before = len(bot.chat("yg-2"))
    answer = bot.http.post("/chats/yg-2/messages", json={"sender": name, "text": "#1 处理不了，请社区协调"})
    assert answer.status_code == 422, answer.text
    assert len(bot.chat("yg-2")) == before


def test_an_invitation_link_is_never_minted_for_a_reserved_name() -> None:
    with pytest.raises(SystemExit, match="reserved"):
        commands.chat_link(Settings(api_token=TOKEN), "yg-1", "@bind")


def test_tokens_signed_with_the_web_chat_key_for_reserved_names_are_refused() -> None:
    """A token of the old shared format (a link code printed before the keys were split) verifies
    by its MAC but names a reserved sender: refused."""
    secret = chat_secret(TOKEN)
    for chat, sender in (("yg-1", "@bind"), ("@iam", "w-yg-1")):
        payload = base64.urlsafe_b64encode(f"{chat}\n{sender}".encode()).decode().rstrip("=")
        mac = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()[:32]
        with pytest.raises(ApiError) as refused:
            verify(secret, f"{payload}.{mac}")
        assert refused.value.status == 401
    assert verify(secret, sign(secret, "yg-1", "张阿姨")) == ("yg-1", "张阿姨")


def test_each_code_verifies_only_for_its_own_purpose() -> None:
    codes = LinkCodes(TOKEN)
    bind, iam = codes.bind_code("yg-1"), codes.identity_code("w-yg-1")
    assert codes.read(Purpose.BIND, bind) is not None and codes.read(Purpose.IAM, bind) is None
    assert codes.read(Purpose.IAM, iam) is not None and codes.read(Purpose.BIND, iam) is None
    assert LinkCodes("another-token").read(Purpose.BIND, bind) is None
    with pytest.raises(ApiError):
        verify(chat_secret(TOKEN), bind)
    assert codes.read(Purpose.BIND, bind.replace(".", ".0", 1)) is None
    assert codes.read(Purpose.BIND, "不是.代码") is None


def test_reserved_names() -> None:
    assert all(reserved_sender(n) for n in RESERVED)
    assert not any(reserved_sender(n) for n in ORDINARY)
