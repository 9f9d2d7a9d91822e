"""The monthly bulletin reaches its officers with its PDF where the platform carries files: Telegram
(sendDocument, the text as caption), WeCom (temporary media upload, then a file message after the
text); the web inbox keeps the text with a link to the PDF. Against the fake platform APIs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from bot.bulletin_pdf import DEFAULT_FONT
from storage.database import create_engine
from storage.sql import SqlUnitOfWork
from tests.e2e.helpers import wait_for
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.wechat_api import FakeWechat
from tests.inproc import InProcessBot

pytestmark = pytest.mark.skipif(not DEFAULT_FONT.is_file(), reason="fonts-wqy-zenhei not installed (make setup)")
TG_TOKEN, TG_SECRET = "123456:FILES-token", "files-secret"
CORP, WC_TOKEN, WC_SECRET, WC_AGENT = "wwfiles00000000000", "wcFilesToken", "wc-secret", "1000002"
WC_AES = base64.b64encode(bytes(range(2, 34))).decode().rstrip("=")
OFFICER_TG = 4242  # 区指挥中心-吴主任 (o-shifan), linked to Telegram; 幸福街道-赵主任 (o-xingfu) on WeCom


async def link(url: str, channel: str, external: str, person: str) -> None:
    engine = create_engine(url)
    try:
        async with SqlUnitOfWork(engine) as uow:
            await uow.channels.link_person(channel, external, person)
    finally:
        await engine.dispose()


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTelegram, FakeWechat]]:
    telegram, wecom = FakeTelegram(TG_TOKEN).start(), FakeWechat(CORP, WC_SECRET, wecom=True).start()
    yield telegram, wecom
    telegram.stop()
    wecom.stop()
    assert telegram.unexpected == [] and wecom.unexpected == [], (telegram.unexpected, wecom.unexpected)


def test_the_monthly_bulletin_goes_with_its_pdf(tmp_path: Any, fakes: tuple[FakeTelegram, FakeWechat]) -> None:
    telegram, wecom = fakes
    bot = InProcessBot(tmp_path, GRIDBOT_TELEGRAM_TOKEN=TG_TOKEN, GRIDBOT_TELEGRAM_API_BASE=telegram.base,
                       GRIDBOT_TELEGRAM_SECRET=TG_SECRET, GRIDBOT_WECOM_CORP_ID=CORP, GRIDBOT_WECOM_TOKEN=WC_TOKEN,
                       GRIDBOT_WECOM_AES_KEY=WC_AES, GRIDBOT_WECOM_SECRET=WC_SECRET, GRIDBOT_WECOM_AGENT_ID=WC_AGENT,
                       GRIDBOT_WECOM_API_BASE=wecom.base)  # fmt: skip
    try:
        bot.run(link(bot.settings.database_url, "telegram", str(OFFICER_TG), "o-shifan"))
        ids = bot.http.post("/bulletins", json={"month": "2026-11"}).json()["ids"]
        district = next(i for i in ids if bot.http.get(f"/bulletins/{i}").json()["scope"] == "shifan")

        wait_for(lambda: telegram.documents, 20, "the PDF on Telegram")
        doc = telegram.documents[0]
        assert int(doc["chat_id"]) == OFFICER_TG and "月度通报" in doc["caption"]
        name, data = doc["document"]
        assert name == "bulletin-2026-11-shifan.pdf" and data.startswith(b"%PDF-")
        assert not [m for m in telegram.sent(OFFICER_TG) if "月度通报" in m["text"]]  # the caption carries it

        wait_for(lambda: wecom.files_to("o-xingfu"), 20, "the PDF on WeCom")
        assert any("月度通报" in t for t in wecom.to("o-xingfu"))  # the text first, then the file
        [(wc_name, wc_data)] = wecom.files_to("o-xingfu")
        assert wc_name == "bulletin-2026-11-xingfu.pdf" and wc_data.startswith(b"%PDF-")

        inbox = bot.inbox("o-shifan")
        pdf = [a for m in inbox for a in m["attachments"] if a.get("kind") == "file"]
        assert pdf == [{"kind": "file", "bulletin": district, "name": "bulletin-2026-11-shifan.pdf",
                        "url": f"/admin/bulletins/{district}/pdf"}]  # fmt: skip
    finally:
        bot.close()
