"""The city platform (12345, 接诉即办) on the in-process bot (tests/inproc.py): cases in through
`POST /api/v1/cases`, every case event out as a signed push to a real local HTTP server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.fakes.city_platform import FakeCityPlatform
from tests.inproc import START, InProcessBot

SECRET = "city-shared-secret-0123456789"
DUE = "2026-12-05T18:00:00+08:00"  # START is Wednesday 2026-12-02 10:00 in Beijing
CASE = {"external_id": "BJ12345-2026-000123", "type": "report_water", "grid": "yg-1", "location": "3号楼地下室",
        "text": "3号楼地下室漏水好几天了，来电人电话13912345678，请尽快处理", "deadline": DUE}  # fmt: skip


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[InProcessBot]:
    bot = InProcessBot(tmp_path)
    yield bot
    bot.close()


@pytest.fixture
def platform() -> Iterator[FakeCityPlatform]:
    platform = FakeCityPlatform().start()
    yield platform
    platform.stop()


# the conversation scripts' policy: a water case resolves without the after-photo and 核查 of the
# shipped presets (the pushes are what is tested here)
POLICY = str(Path(__file__).parents[1] / "e2e" / "conversations" / "policy.yml")


@pytest.fixture
def pushing(tmp_path: Path, platform: FakeCityPlatform) -> Iterator[InProcessBot]:
    bot = InProcessBot(tmp_path, GRIDBOT_CITY_PUSH_URL=platform.url, GRIDBOT_CITY_PUSH_SECRET=SECRET,
                       GRIDBOT_CITY_PUSH_INTERVAL_S="0.05", GRIDBOT_CITY_PUSH_ATTEMPTS="3",
                       GRIDBOT_POLICIES=POLICY, GRIDBOT_ADMIN_USER=ADMIN_USER,
                       GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)  # fmt: skip
    yield bot
    bot.close()


def post_case(bot: InProcessBot, **changes: Any) -> Any:
    return bot.http.post("/cases", json={**CASE, **changes})


def group_post(bot: InProcessBot, ticket_id: int) -> dict[str, Any]:
    return next(m for m in bot.chat("yg-1") if m["ticket_id"] == ticket_id and m["sender"] == "gridbot")


def accept(bot: InProcessBot, ticket_id: int) -> None:
    bot.say("yg-1", "w-yg-1", "收到", reply_to=group_post(bot, ticket_id)["message_id"])
    assert bot.ticket(ticket_id)["state"] == "accepted"


def test_a_city_case_reaches_the_grid_s_worker_and_the_group_without_the_caller_s_words(bot: InProcessBot) -> None:
    opened = post_case(bot)
    assert opened.status_code == 201, opened.text
    ticket_id = opened.json()["ticket_id"]
    ticket = bot.ticket(ticket_id)
    assert (ticket["external_id"], ticket["reporter"], ticket["state"], ticket["grid"], ticket["assignee"]) == (
        CASE["external_id"], "12345热线", "reported", "yg-1", "w-yg-1"
    )  # fmt: skip
    assert ticket["deadlines"]["phase"] == "accept" and not ticket["deadlines"]["fixed"]
    post = group_post(bot, ticket_id)["text"]
    assert "12345转办" in post and "供排水" in post and f"#{ticket_id}" in post and "李建国" in post
    assert "13912345678" not in post and "漏水" not in post  # a complaint's words stay out of the group
    (ping,) = [m for m in bot.inbox("w-yg-1") if m["ticket_id"] == ticket_id]
    assert "漏水" in ping["text"] and "办结时限：12月05日 18:00:00" in ping["text"]


def test_once_the_worker_takes_it_the_city_deadline_is_the_handling_deadline(bot: InProcessBot) -> None:
    ticket_id = post_case(bot, deadline="2026-12-05T18:00:00").json()["ticket_id"]  # no offset: Beijing time
    accept(bot, ticket_id)
    deadlines = bot.ticket(ticket_id)["deadlines"]
    assert deadlines["phase"] == "resolve" and deadlines["fixed"]
    assert deadlines["due_at"] == "2026-12-05T10:00:00+00:00"


def test_the_same_external_id_answers_the_same_ticket(bot: InProcessBot) -> None:
    first = post_case(bot)
    again = post_case(bot, text="重复推送，内容有变化")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == {"ticket_id": first.json()["ticket_id"], "created": True}
    assert again.json() == {"ticket_id": first.json()["ticket_id"], "created": False}
    assert len(bot.http.get("/tickets").json()["tickets"]) == 1
    assert len([m for m in bot.inbox("w-yg-1")]) == 1  # the worker was pinged once


@pytest.mark.parametrize(
    ("changes", "status", "says"),
    [({"grid": "yg-9"}, 422, "unknown micro-grid 'yg-9'"),
     ({"grid": "yangguang"}, 422, "unknown micro-grid 'yangguang'"),  # a community, not a micro-grid
     ({"type": "report_ufo"}, 422, "report_water"),  # the valid types are listed
     ({"type": "chitchat"}, 422, "unknown type"),
     ({"text": "漏" * 4001}, 422, "text"),
     ({"text": "   "}, 422, "text"),
     ({"external_id": "BJ 123"}, 422, "external_id"),
     ({"external_id": "北京123"}, 422, "external_id"),
     ({"external_id": "x" * 129}, 422, "external_id"),
     ({"grid": "yg-1\u0000"}, 422, "grid"),
     ({"location": "楼" * 501}, 422, "location"),
     ({"deadline": "下周五"}, 422, "ISO 8601"),
     ({"deadline": "2026-12-01T18:00:00+08:00"}, 422, "not in the future"),
     ({"deadline": "2028-12-01T18:00:00+08:00"}, 422, "more than a year"),
     ({"external_id": None}, 422, "external_id")],
)  # fmt: skip
def test_a_bad_case_is_refused_with_a_clear_error_and_stores_nothing(
    bot: InProcessBot, changes: dict[str, Any], status: int, says: str
) -> None:
    refused = post_case(bot, **changes)
    assert refused.status_code == status, refused.text
    assert says in refused.text and "error" in refused.json()
    assert bot.http.get("/tickets").json()["tickets"] == [] and bot.chat("yg-1") == []


def test_cases_need_the_api_token(bot: InProcessBot) -> None:
    anonymous = bot.client("http://bot/api/v1")
    assert anonymous.post("/cases", json=CASE).status_code == 401
    assert anonymous.get("/city/pushes").status_code == 401
    assert bot.http.get("/tickets").json()["tickets"] == []


def test_without_a_push_url_nothing_is_queued(bot: InProcessBot) -> None:
    accept(bot, post_case(bot).json()["ticket_id"])
    for status in ("pending", "sent", "dead"):
        assert bot.http.get("/city/pushes", params={"status": status}).json() == {"pushes": []}


def test_every_event_of_a_city_case_is_pushed_signed_once(pushing: InProcessBot, platform: FakeCityPlatform) -> None:
    ticket_id = post_case(pushing).json()["ticket_id"]
    platform.wait_taken(1)
    accept(pushing, ticket_id)
    resolved = pushing.say("yg-1", "w-yg-1", f"#{ticket_id} 已处理，漏点已堵上")
    assert resolved["replies"] and all("@12345" not in r["text"] for r in resolved["replies"])  # no one to @
    platform.wait_taken(3)
    events = platform.events(SECRET.encode())
    timeline = pushing.ticket(ticket_id)["events"]
    assert [e["event"] for e in events] == [e["kind"] for e in timeline] == ["reported", "accepted", "resolved"]
    assert [e["state"] for e in events] == ["reported", "accepted", "resolved"]
    assert len({e["id"] for e in events}) == 3 and {e["ticket_id"] for e in events} == {ticket_id}
    reported = events[0]
    assert (reported["external_id"], reported["actor"], reported["type"], reported["grid"]) == (
        CASE["external_id"], "12345热线", "report_water", "yg-1"
    )  # fmt: skip
    assert reported["detail"]["deadline"] == "2026-12-05T10:00:00+00:00" and reported["at"] == START.isoformat()
    time.sleep(0.3)  # a few more passes: nothing is sent twice
    assert len(platform.requests) == 3


def test_a_resident_s_own_case_is_not_pushed_in_the_default_scope(
    pushing: InProcessBot, platform: FakeCityPlatform
) -> None:
    pushing.say("yg-1", "张阿姨", "3号楼门口垃圾堆成山了 好几天没人收")
    post_case(pushing)
    platform.wait_taken(1)
    time.sleep(0.3)
    assert [e["external_id"] for e in platform.events(SECRET.encode())] == [CASE["external_id"]]


def test_a_failing_platform_gets_the_push_later_and_a_dead_letter_can_be_retried(
    pushing: InProcessBot, platform: FakeCityPlatform
) -> None:
    platform.fail(1)
    ticket_id = post_case(pushing).json()["ticket_id"]
    backing_off(pushing, lambda: platform.taken(), "the push after a failed attempt")
    assert [code for code, _, _ in platform.requests] == [503, 200]

    platform.down(500)
    accept(pushing, ticket_id)
    dead = backing_off(pushing, lambda: pushing.http.get("/city/pushes").json()["pushes"], "the dead letter")
    assert [code for code, _, _ in platform.requests] == [503, 200, 500, 500, 500]
    assert [(p["ticket_id"], p["event"], p["attempts"]) for p in dead] == [(ticket_id, "accepted", 3)]
    assert "HTTP 500" in dead[0]["error"]
    metrics = pushing.client().get("/metrics").text
    assert 'gridbot_city_pushes{status="dead"} 1.0' in metrics
    assert 'gridbot_city_push_attempts_total{result="failed"} 4.0' in metrics

    admin = AdminWeb(http=pushing.client())
    assert admin.login().status_code == 303
    page = admin.http.get("/admin/outbox").text.split('id="city-pushes"')[1]
    assert f"#{ticket_id}" in page and "HTTP 500" in page and f"/admin/outbox/city/{dead[0]['id']}/retry" in page

    platform.up()
    retried = pushing.http.post(f"/city/pushes/{dead[0]['id']}/retry")
    assert retried.json() == {"id": dead[0]["id"], "status": "pending"}
    platform.wait_taken(2)
    assert [e["event"] for e in platform.events(SECRET.encode())] == ["reported", "accepted"]
    assert pushing.http.get("/city/pushes").json() == {"pushes": []}
    assert pushing.http.post(f"/city/pushes/{dead[0]['id']}/retry").status_code == 404
    assert admin.post(f"/admin/outbox/city/{dead[0]['id']}/retry").status_code == 404  # not dead any more


def test_a_platform_that_hangs_never_holds_up_the_chat(tmp_path: Path, platform: FakeCityPlatform) -> None:
    platform.hang_s = 2
    bot = InProcessBot(tmp_path, GRIDBOT_CITY_PUSH_URL=platform.url, GRIDBOT_CITY_PUSH_SECRET=SECRET,
                       GRIDBOT_CITY_PUSH_INTERVAL_S="0.05", GRIDBOT_CITY_PUSH_TIMEOUT_S="0.5")  # fmt: skip
    try:
        ticket_id = post_case(bot).json()["ticket_id"]
        time.sleep(0.2)  # the push is in flight and the platform silent
        started = time.monotonic()
        accept(bot, ticket_id)
        bot.say("yg-2", "王大妈", "5号楼门口的路灯不亮了")
        assert time.monotonic() - started < 1.0
    finally:
        bot.close()


def backing_off(bot: InProcessBot, check: Any, what: str, timeout_s: float = 10) -> Any:
    """Wait for `check`, moving the clock past the longest backoff (5 minutes) now and then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        bot.clock.now += timedelta(minutes=6)
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
