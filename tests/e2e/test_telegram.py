"""Telegram through its real wire format: updates posted to our webhook as Telegram would (secret
header), replies and pings going out to a local fake Bot API server, with the real Rasa model.

A group is bound with /bind, a worker links with /iam; a resident's report becomes a ticket whose
post (threaded to the report, with 接单 buttons) reaches the group; the worker accepts by button,
resolves by replying to the post; the resident rates by button. Plus forged secrets, malformed
bodies, unknown message types, a retry storm and a Bot API that fails before it works."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.channels.codes import LinkCodes
from tests.conftest import API_TOKEN
from tests.e2e.helpers import Api
from tests.fakes.telegram_api import FakeTelegram

TOKEN = "123456:TEST-token"
SECRET = "s3cret-header"
GROUP, WORKER_TG, RESIDENT_TG = -100777, 4242, 5151
_ids = itertools.count(1)
POLICY = str(Path(__file__).parent / "conversations" / "policy.yml")  # no quiet hours: pings go at once


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram(TOKEN).start()
    yield server
    server.stop()
    assert server.unexpected == [], f"the bot called Bot API methods the fake does not know: {server.unexpected}"


def user(uid: int, name: str) -> dict[str, Any]:
    return {"id": uid, "is_bot": False, "first_name": name}


def message(
    text: str, uid: int, name: str, chat: int = GROUP, reply_to: int | None = None, **extra: Any
) -> dict[str, Any]:
    msg: dict[str, Any] = {"message_id": next(_ids) + 100, "date": int(time.time()), "from": user(uid, name),
                           "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"}, **extra}  # fmt: skip
    if text:
        msg["text"] = text
    if reply_to is not None:
        msg["reply_to_message"] = {"message_id": reply_to, "date": int(time.time()), "chat": msg["chat"]}
    return {"update_id": next(_ids) + 10_000, "message": msg}


def button(data: str, uid: int, name: str, on_message: int) -> dict[str, Any]:
    return {"update_id": next(_ids) + 10_000, "callback_query": {
        "id": f"cb{next(_ids)}", "from": user(uid, name), "chat_instance": "x", "data": data,
        "message": {"message_id": on_message, "date": int(time.time()), "chat": {"id": GROUP, "type": "supergroup"}},
    }}  # fmt: skip


def start_bot(bot_factory: Callable[..., Any], fake: FakeTelegram, rasa_url: str, tmp_path: Path, **extra: str) -> Any:
    bot = bot_factory(
        GRIDBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'tg.db'}", GRIDBOT_NLU_URL=rasa_url, GRIDBOT_POLICIES=POLICY,
        GRIDBOT_TELEGRAM_TOKEN=TOKEN, GRIDBOT_TELEGRAM_API_BASE=fake.base, **extra,
    )  # fmt: skip
    bot.start()
    return bot


def post(bot_url: str, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
    return httpx.post(f"{bot_url}/telegram/webhook", json=update, headers=headers, timeout=15)


def test_a_report_flows_in_and_its_status_back_out_through_telegram(
    fake: FakeTelegram, rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path
) -> None:
    bot = start_bot(bot_factory, fake, rasa_url, tmp_path, GRIDBOT_TELEGRAM_SECRET=SECRET)
    api = Api(bot.url)
    codes = LinkCodes(API_TOKEN)

    # an admin binds the group; the worker links their account in a private chat
    assert post(bot.url, message(f"/bind {codes.bind_code('yg-1')}", 1, "管理员")).status_code == 200
    fake.wait_sent(GROUP, "已绑定到阳光社区第1微网格")
    assert post(bot.url, message("/bind forged.code", 1, "路人")).status_code == 200
    fake.wait_sent(GROUP, "绑定码无效")
    post(bot.url, message(f"/iam {codes.identity_code('w-yg-1')}", WORKER_TG, "李建国", chat=WORKER_TG))
    fake.wait_sent(WORKER_TG, "已确认您的身份")

    # a resident reports in the group: one ticket, the post threads to the report and has buttons
    report = message("3号楼楼道里垃圾堆了好几天了，麻烦处理一下", RESIDENT_TG, "张阿姨")
    assert post(bot.url, report).status_code == 200
    tickets = api.http.get("/tickets", params={"chat_id": "yg-1"}).json()["tickets"]
    assert len(tickets) == 1 and tickets[0]["type"] == "report_sanitation"
    tid = tickets[0]["id"]
    assert tickets[0]["reporter"] == f"张阿姨#tg{RESIDENT_TG}"
    ack = fake.wait_sent(GROUP, f"#{tid}")
    assert "@张阿姨" in ack["text"] and ack["reply_parameters"]["message_id"] == report["message"]["message_id"]
    labels = [b["text"] for b in ack["reply_markup"]["inline_keyboard"][0]]
    assert labels == ["接单", "已处理", "吹哨"]
    fake.wait_sent(WORKER_TG, f"新工单 #{tid}")  # the linked worker's ping reaches them on Telegram
    post_id = next(m["message_id"] for m in api.chat("yg-1") if m["ticket_id"] == tid and m["sender"] == "gridbot")
    tg_post = _tg_id(fake, ack)

    # a photo and a shared location from the reporter are added to the case
    photo = message("", RESIDENT_TG, "张阿姨", photo=[
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90},
        {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960}])  # fmt: skip
    assert post(bot.url, photo).status_code == 200
    place = message("", RESIDENT_TG, "张阿姨", location={"latitude": 30.27, "longitude": 120.15})
    assert post(bot.url, place).status_code == 200
    added = [e["detail"]["attachments"] for e in api.ticket(tid)["events"] if e["kind"] == "supplemented"]
    assert added == [[{"kind": "image", "url": "tg-file:big"}],
                     [{"kind": "location", "lat": 30.27, "lng": 120.15, "label": ""}]]  # fmt: skip

    # the worker presses 接单, then replies 已处理 to the post; the resident rates with a button
    assert post(bot.url, button(f"/接单 {tid}", WORKER_TG, "李建国", tg_post)).status_code == 200
    assert api.ticket(tid)["state"] == "accepted"
    assert any(m == "answerCallbackQuery" for m, _ in fake.calls)
    post(bot.url, message("已处理，垃圾清运完了", WORKER_TG, "李建国", reply_to=tg_post))
    assert api.ticket(tid)["state"] == "resolved"
    asked = fake.wait_sent(GROUP, "评价")
    assert [b["text"] for b in asked["reply_markup"]["inline_keyboard"][0]] == ["满意", "基本满意", "不满意"]
    post(bot.url, button(f"#{tid} 满意", RESIDENT_TG, "张阿姨", _tg_id(fake, asked)))
    final = api.ticket(tid)
    assert (final["state"], final["rating"]) == ("closed", 5)
    assert {e["actor"] for e in final["events"] if e["kind"] in ("accepted", "resolved")} == {"w-yg-1"}
    assert post_id

    # bad input: forged or missing secret 403, not JSON 400, not an update 400, a sticker is ignored
    assert post(bot.url, report, secret="wrong").status_code == 403
    assert post(bot.url, report, secret=None).status_code == 403
    bad = httpx.post(f"{bot.url}/telegram/webhook", content=b"{not json",
                     headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})  # fmt: skip
    assert bad.status_code == 400
    assert post(bot.url, {"hello": 1}).status_code == 400
    sticker = message("", RESIDENT_TG, "张阿姨", sticker={"file_id": "x", "file_unique_id": "y", "width": 1,
                                                         "height": 1, "is_animated": False, "is_video": False,
                                                         "type": "regular"})  # fmt: skip
    assert post(bot.url, sticker).status_code == 200
    assert len(api.http.get("/tickets", params={"chat_id": "yg-1"}).json()["tickets"]) == 1

    # a retry storm: one update delivered 4 times at once opens one ticket
    storm = message("5号楼下水管爆了 水漫出来了", 6161, "王大爷")
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: post(bot.url, storm).status_code, range(4)))
    assert codes == [200] * 4
    water = [t for t in api.http.get("/tickets", params={"chat_id": "yg-1"}).json()["tickets"]
             if t["type"] == "report_water"]  # fmt: skip
    assert len(water) == 1


def test_a_failing_bot_api_never_blocks_intake_and_delivery_catches_up(
    fake: FakeTelegram, rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path
) -> None:
    fake.fail("getMe", 2, 502, "Bad Gateway")  # the API is down when the bot starts
    bot = start_bot(bot_factory, fake, rasa_url, tmp_path, GRIDBOT_TELEGRAM_SECRET=SECRET)
    api = Api(bot.url)
    post(bot.url, message(f"/bind {LinkCodes(API_TOKEN).bind_code('hh-1')}", 1, "管理员"))
    fake.wait_sent(GROUP, "已绑定")
    fake.fail("sendMessage", 3, 500, "Internal Server Error")  # then sending fails for a while
    started = time.monotonic()
    assert post(bot.url, message("东门那个井盖没了 很危险", RESIDENT_TG, "刘阿姨")).status_code == 200
    assert time.monotonic() - started < 5  # intake did not wait for Telegram
    tid = api.http.get("/tickets", params={"chat_id": "hh-1"}).json()["tickets"][0]["id"]
    fake.wait_sent(GROUP, f"#{tid}", timeout_s=20)  # the outbox retried until it went through
    fake.fail("sendMessage", 1, 403, "Forbidden: bot was kicked from the group")
    post(bot.url, message("大家注意 东门那个井盖没了", 7171, "赵大姐"))  # linked: a reply goes out; refused
    assert api.ticket(tid)["followers"] == ["赵大姐#tg7171"]


def _tg_id(fake: FakeTelegram, sent: dict[str, Any]) -> int:
    """The Telegram message id the fake gave the bot for this sendMessage."""
    return int(sent["_message_id"])


def test_polling_mode_reads_updates_without_a_webhook(
    fake: FakeTelegram, rasa_url: str, bot_factory: Callable[..., Any], tmp_path: Path
) -> None:
    bot = start_bot(bot_factory, fake, rasa_url, tmp_path, GRIDBOT_TELEGRAM_POLLING="true")
    fake.updates.append(message(f"/bind {LinkCodes(API_TOKEN).bind_code('df-1')}", 1, "管理员"))
    fake.wait_sent(GROUP, "已绑定")
    fake.updates.append(message("1号楼停电了 整栋楼都没电", RESIDENT_TG, "孙大爷"))
    ack = fake.wait_sent(GROUP, "供电", timeout_s=20)
    assert "@孙大爷" in ack["text"]
    assert post(bot.url, message("x", 1, "y")).status_code == 403  # no secret configured: the webhook is shut
    assert any(m == "deleteWebhook" for m, _ in fake.calls)
