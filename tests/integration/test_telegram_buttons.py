"""A Telegram button press is answered at once and its group post follows within 2 s, in order with
the posts after it (issue 22). Seen before: tapping 接单 showed nothing (the callback query was
answered without text), and its answer waited in the outbox for the Telegram id of "the message it
replies to" (a button press has none), about 35 s, landing after the worker's later posts.

The whole bot runs in-process (keyword rules, SQLite) on the wall clock, against the fake Bot API."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.channels.codes import LinkCodes
from tests.e2e.helpers import wait_for
from tests.fakes.telegram_api import FakeTelegram
from tests.inproc import TOKEN, InProcessBot, WallClock

TG_TOKEN, TG_SECRET = "123456:BUTTON-token", "button-secret"
GROUP, WORKER, RESIDENT = -100321, 4343, 5353
POLICY = str(Path(__file__).parents[1] / "e2e" / "conversations" / "policy.yml")  # no quiet hours
_ids = itertools.count(1)


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(TG_TOKEN).start()
    yield fake
    fake.stop()
    assert fake.unexpected == [], fake.unexpected


@pytest.fixture
def bot(telegram: FakeTelegram, tmp_path: Path) -> Iterator[InProcessBot]:
    bot = InProcessBot(tmp_path, clock=WallClock(), GRIDBOT_TELEGRAM_TOKEN=TG_TOKEN, GRIDBOT_POLICIES=POLICY,
                       GRIDBOT_TELEGRAM_API_BASE=telegram.base, GRIDBOT_TELEGRAM_SECRET=TG_SECRET)  # fmt: skip
    wait_for(lambda: any(m == "getMe" for m, _ in telegram.calls), 10, "the gateway to connect")
    yield bot
    bot.close()


def post(bot: InProcessBot, update: dict[str, Any]) -> None:
    with bot.client(headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}) as client:
        assert client.post("/telegram/webhook", json=update).status_code == 200


def say(bot: InProcessBot, text: str, uid: int, name: str, chat: int = GROUP, reply_to: int | None = None) -> int:
    message_id = next(_ids) + 100
    msg: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "text": text,
                           "from": {"id": uid, "is_bot": False, "first_name": name},
                           "chat": {"id": chat, "type": "private" if chat > 0 else "supergroup"}}  # fmt: skip
    if reply_to is not None:
        msg["reply_to_message"] = {"message_id": reply_to, "date": int(time.time()), "chat": msg["chat"]}
    post(bot, {"update_id": next(_ids) + 10_000, "message": msg})
    return message_id


def tap(bot: InProcessBot, data: str, uid: int, name: str, on_message: int) -> str:
    query_id = f"cb{next(_ids)}"
    post(bot, {"update_id": next(_ids) + 10_000, "callback_query": {
        "id": query_id, "from": {"id": uid, "is_bot": False, "first_name": name}, "chat_instance": "x",
        "data": data, "message": {"message_id": on_message, "date": int(time.time()),
                                  "chat": {"id": GROUP, "type": "supergroup"}}}})  # fmt: skip
    return query_id


def answered(fake: FakeTelegram, query_id: str) -> list[dict[str, Any]]:
    return [p for m, p in list(fake.calls) if m == "answerCallbackQuery" and p.get("callback_query_id") == query_id]


def test_a_press_is_answered_at_once_and_its_group_post_follows_in_order(
    bot: InProcessBot, telegram: FakeTelegram
) -> None:
    codes = LinkCodes(TOKEN)
    say(bot, f"/bind {codes.bind_code('yg-1')}", 1, "管理员")
    telegram.wait_sent(GROUP, "已绑定")
    say(bot, f"/iam {codes.identity_code('w-yg-1')}", WORKER, "李建国", chat=WORKER)
    telegram.wait_sent(WORKER, "已确认")
    say(bot, "3号楼楼道里垃圾堆了好几天了，麻烦处理一下", RESIDENT, "张阿姨")
    [ticket] = bot.http.get("/tickets", params={"chat_id": "yg-1"}).json()["tickets"]
    tid = ticket["id"]
    ack = telegram.wait_sent(GROUP, f"#{tid}", timeout_s=5)

    # a resident presses 接单: refused, and told why in the toast
    refused = tap(bot, f"/接单 {tid}", RESIDENT, "张阿姨", ack["_message_id"])
    [toast] = answered(telegram, refused)
    assert "网格员" in toast["text"], toast

    # the worker presses 接单: the toast says so when the webhook answers ...
    pressed = time.monotonic()
    accepted = tap(bot, f"/接单 {tid}", WORKER, "李建国", ack["_message_id"])
    assert [a["text"] for a in answered(telegram, accepted)] == ["已接单"]
    assert bot.ticket(tid)["state"] == "accepted"
    # ... and the group post within 2 s, before the answer to the worker's next post
    post_ = telegram.wait_sent(GROUP, "已由网格员", timeout_s=2)
    assert time.monotonic() - pressed < 2, "the group post of a press waited"
    say(bot, "已处理，垃圾清运完了", WORKER, "李建国", reply_to=ack["_message_id"])
    later = telegram.wait_sent(GROUP, "评价", timeout_s=5)
    texts = [m["text"] for m in telegram.sent(GROUP)]
    assert texts.index(post_["text"]) < texts.index(later["text"])
    assert bot.ticket(tid)["state"] == "resolved"

    # the resident rates with a button: thanked in the toast
    rated = tap(bot, f"#{tid} 满意", RESIDENT, "张阿姨", later["_message_id"])
    assert [a["text"] for a in answered(telegram, rated)] == ["感谢您的评价"]
    assert bot.ticket(tid)["rating"] == 5
