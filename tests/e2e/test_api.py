"""API v1 contract and bad input, against a real bot process (SQLite, real Rasa)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import API_TOKEN, BotProcess
from tests.e2e.helpers import Api, wait_for


@pytest.fixture(scope="module")
def bot(rasa_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    tmp: Path = tmp_path_factory.mktemp("api")
    process = BotProcess(
        {"GRIDBOT_DATABASE_URL": f"sqlite:///{tmp / 'api.db'}", "GRIDBOT_NLU_URL": rasa_url,
         "GRIDBOT_VAR_DIR": str(tmp / "var")},
        tmp / "bot.log",
    )  # fmt: skip
    process.start()
    yield process
    process.stop()


@pytest.fixture
def api(bot: BotProcess) -> Api:
    return Api(bot.url)


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error"} and " / " in body["error"], body  # Chinese / English
    return str(body["error"])


def test_healthz_needs_no_token_and_reports_each_part(bot: BotProcess) -> None:
    for path in ("/healthz", "/api/v1/healthz"):
        response = httpx.get(bot.url + path)
        assert response.status_code == 200
        body = response.json()
        assert {k: body.pop(k) for k in ("status", "database", "nlu", "scheduler")} == dict.fromkeys(
            ("status", "database", "nlu", "scheduler"), "ok"
        )
        assert body.pop("calendar") in ("ok", "gap")  # gap: holidays ahead unknown (a warning in `detail`)
        assert set(body) <= {"detail"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}])
def test_missing_or_wrong_token_is_401(bot: BotProcess, headers: dict[str, str]) -> None:
    error_of(httpx.get(f"{bot.url}/api/v1/directory", headers=headers), 401)
    error_of(httpx.post(f"{bot.url}/api/v1/chats/yg-1/messages", headers=headers, json={}), 401)


def test_directory_shape(api: Api) -> None:
    d = api.http.get("/directory").json()
    assert set(d) == {"nodes", "people", "departments"}
    grids = [n for n in d["nodes"] if n["tier"] == "grid"]
    assert len(grids) == 8 and all(n["chat_id"] for n in grids)
    assert {n["tier"] for n in d["nodes"]} == {"district", "township", "community", "grid"}
    assert {p["role"] for p in d["people"]} == {"worker", "officer", "admin"}
    assert d["departments"][0]["people"]


def test_unknown_things_are_404(api: Api) -> None:
    error_of(api.http.post("/chats/nope/messages", json={"sender": "a", "text": "路灯坏了"}), 404)
    error_of(api.http.get("/chats/nope/messages"), 404)
    error_of(api.http.get("/tickets/999999"), 404)
    error_of(api.http.get("/people/nobody/inbox"), 404)


@pytest.mark.parametrize(
    "body",
    [{"sender": "a"}, {"text": "x"}, {"sender": "a", "text": 5}, {"sender": "a", "text": "x", "reply_to": "x"},
     {"sender": "a", "text": "   "}, {"sender": "", "text": "路灯坏了"}],
)  # fmt: skip
def test_malformed_bodies_are_422_and_store_nothing(api: Api, body: dict[str, object]) -> None:
    before = len(api.chat("yg-2"))
    error_of(api.http.post("/chats/yg-2/messages", json=body), 422)
    assert len(api.chat("yg-2")) == before


def test_not_json_is_422(api: Api) -> None:
    error_of(
        api.http.post("/chats/yg-2/messages", content=b"<xml/>", headers={"content-type": "application/json"}), 422
    )


def test_oversized_text_is_413_and_stores_nothing(api: Api) -> None:
    before = len(api.chat("yg-2"))
    error_of(api.http.post("/chats/yg-2/messages", json={"sender": "a", "text": "漏" * 2001}), 413)
    error_of(api.http.post("/chats/yg-2/messages", json={"sender": "a", "text": "x" * 300_000}), 413)
    error_of(api.http.post("/nlu/parse", json={"text": "漏" * 2001}), 413)
    assert len(api.chat("yg-2")) == before
    assert api.say("yg-2", "a", "漏" * 2000)["message_id"]  # exactly at the limit is fine


def test_a_repeated_client_id_returns_the_first_answer_and_changes_nothing(api: Api) -> None:
    first = api.say("df-1", "杨阿姨", "村口的井盖不见了，很危险", client_id="c-123")
    again = api.say("df-1", "杨阿姨", "村口的井盖不见了，很危险", client_id="c-123")
    assert again == first
    tickets = api.http.get("/tickets", params={"chat_id": "df-1"}).json()["tickets"]
    assert len(tickets) == 1
    assert len([m for m in api.chat("df-1") if m["sender"] == "杨阿姨"]) == 1


def test_nlu_parse_is_what_the_bot_uses(api: Api) -> None:
    result = api.http.post("/nlu/parse", json={"text": "5号楼2单元门口的路灯不亮了"}).json()
    assert set(result) >= {"intent", "confidence", "entities", "source", "urgent", "report_hint"}
    assert result["source"] == "rasa" and result["urgent"] is False
    assert result["intent"] == "report_public_facility"
    assert "reading" not in result  # no role or context asked for: the NLU's word alone
    for e in result["entities"]:
        assert "5号楼2单元门口的路灯不亮了"[e["start"] : e["end"]] == e["value"]
    gas = api.http.post("/nlu/parse", json={"text": "厨房里一股很浓的煤气味"}).json()
    assert gas["urgent"] is True and gas["source"] == "emergency" and gas["emergency"] == "gas"


def test_nlu_parse_reads_in_a_situation(api: Api) -> None:
    """With `role` and `context` the answer carries what the bot would act on (the dialogue layer)."""

    def reading(text: str, **situation: str) -> str:
        return str(api.http.post("/nlu/parse", json={"text": text, **situation}).json()["reading"])

    assert reading("收到", role="worker", context="reply_to_ticket_post") == "worker_accept"
    assert reading("收到收到", role="resident") == "chitchat"
    assert reading("👍", role="resident", context="after_resolve") == "confirm_resolved"
    assert reading("5号楼旁边", role="resident", context="awaiting_location", draft_type="report_water") == (
        "report_water"
    )
    assert reading("电梯卡在两层中间了 里面有人", role="resident", context="awaiting_location",
                   draft_type="report_water") == "report_property"  # fmt: skip
    assert api.http.post("/nlu/parse", json={"text": "x", "role": "boss"}).status_code == 422


def test_ticket_listing_filters(api: Api) -> None:
    tid = api.say("xh-2", "林先生", "滨河小区门口有人乱停车，把消防通道都堵了")["replies"][0]["ticket_id"]
    listed = api.http.get("/tickets", params={"chat_id": "xh-2", "state": "reported"}).json()["tickets"]
    assert [t["id"] for t in listed] == [tid]
    assert api.http.get("/tickets", params={"state": "bogus"}).status_code == 422
    ticket = api.ticket(tid)
    assert set(ticket) >= {"id", "type", "state", "tier", "grid", "chat_id", "reporter", "assignee", "location",
                           "created_at", "deadlines", "rating", "events"}  # fmt: skip
    assert ticket["deadlines"]["next_at"] and ticket["deadlines"]["phase"] == "accept"


def test_a_resident_cannot_act_as_worker_and_a_stranger_cannot_rate(api: Api) -> None:
    sent = api.say("hh-2", "刘阿姨", "7栋楼上邻居天天半夜装修，吵得睡不着")
    tid = sent["replies"][0]["ticket_id"]
    by_resident = api.say("hh-2", "路人甲", f"#{tid} 已处理")  # a resident cannot resolve: told why
    assert api.ticket(tid)["state"] == "reported"
    assert by_resident["replies"] and "网格员" in by_resident["replies"][0]["text"]
    refused = api.say("hh-2", "w-yg-1", f"#{tid} 已处理")  # another grid's worker is refused, politely
    assert api.ticket(tid)["state"] == "reported"
    assert refused["replies"] and "网格员" in refused["replies"][0]["text"]


def test_web_chat_without_demo_needs_an_invitation(bot: BotProcess) -> None:
    error_of(httpx.post(f"{bot.url}/chat/api/session", json={"chat_id": "yg-1", "sender": "x"}), 403)
    error_of(httpx.get(f"{bot.url}/chat/api/messages", headers={"X-Chat-Token": "Zm9v.forged"}), 401)
    assert httpx.get(f"{bot.url}/chat").status_code == 200


def test_a_posted_message_answers_201_with_its_replies_and_the_parse_time(api: Api) -> None:
    response = api.http.post("/chats/yg-1/messages", json={"sender": "吴阿姨", "text": "4号楼门口路灯坏了好几天了"})
    assert response.status_code == 201 and response.headers["content-type"] == "application/json"
    answer = response.json()
    assert set(answer) == {"message_id", "replies"} and answer["replies"][0]["ticket_id"]
    assert set(answer["replies"][0]) == {"message_id", "text", "ticket_id"}
    nlu_ms = float(response.headers["server-timing"].removeprefix("nlu;dur="))  # bench/ingest.py reads it
    assert 0 < nlu_ms < 10_000


def test_concurrent_retries_of_one_client_id_store_one_message(api: Api, bot: BotProcess) -> None:
    body = {"sender": "周奶奶", "text": "楼下的健身器材坏了，螺丝都掉了", "client_id": "race-1"}

    def post(_: int) -> httpx.Response:
        return httpx.post(
            f"{bot.url}/api/v1/chats/hh-1/messages", json=body, headers={"Authorization": f"Bearer {API_TOKEN}"}
        )

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(post, range(6)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["message_id"] for r in responses}) == 1
    assert len([m for m in api.chat("hh-1") if m["sender"] == "周奶奶"]) == 1
    assert len(api.http.get("/tickets", params={"chat_id": "hh-1"}).json()["tickets"]) == 1


def test_a_follow_up_without_a_ticket_is_a_new_report_or_silence(api: Api) -> None:
    sent = api.say("df-2", "孙奶奶", "6号楼电梯又坏了，困了好几个老人在上面下不来")
    assert len(sent["replies"]) == 1 and sent["replies"][0]["ticket_id"]
    assert api.ticket(sent["replies"][0]["ticket_id"])["type"] == "report_property"
    assert api.say("df-2", "钱大爷", "修好了，谢谢谢谢")["replies"] == []


def test_checkins_and_bulletins_over_the_api(api: Api) -> None:
    api.say("xh-1", "w-xh-1", "报平安")
    day = api.http.get("/checkins").json()
    assert "w-xh-1" in day["checked_in"] and "w-xh-2" in day["missing"]
    xinhe = next(n for n in day["by_node"] if n["id"] == "xinhe")
    assert (xinhe["workers"], xinhe["checkins"]) == (2, 1) and xinhe["rate"] in (0.5, None)  # None on a holiday
    assert api.http.get("/checkins", params={"day": "yesterday"}).status_code == 422
    made = api.http.post("/bulletins", json={"month": "2026-11"})
    assert made.status_code == 201 and len(made.json()["ids"]) == 3
    listed = api.http.get("/bulletins").json()["bulletins"]
    assert {b["scope"] for b in listed} >= {"shifan", "xingfu", "heping"}
    one = api.http.get(f"/bulletins/{made.json()['ids'][0]}").json()
    assert one["body"]["period"] == "2026-11" and "月度通报" in one["text"]
    text = api.http.get(f"/bulletins/{one['id']}/text")
    assert text.status_code == 200 and "attachment" in text.headers["content-disposition"]
    assert api.http.post("/bulletins", json={"month": "2026-13"}).status_code == 422
    assert api.http.get("/bulletins/999999").status_code == 404


def test_the_outbox_api_lists_dead_letters_and_refuses_to_retry_what_is_not_one(api: Api) -> None:
    assert api.http.get("/outbox").json() == {"messages": []}  # nothing failed in this bot
    api.say("df-1", "w-df-1", "报平安")
    wait_for(lambda: api.http.get("/outbox", params={"status": "sent"}).json()["messages"], 10, "a sent outbox row")
    assert api.http.get("/outbox", params={"status": "handled"}).status_code == 422
    assert api.http.post("/outbox/1/retry").status_code == 404


def test_metrics_and_readiness(api: Api, bot: BotProcess) -> None:
    api.say("xh-2", "马先生", "3号楼楼道里垃圾堆了好几天了")
    ready = httpx.get(f"{bot.url}/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    text = httpx.get(f"{bot.url}/metrics").text
    assert 'gridbot_messages_total{channel="web",route="report"}' in text
    assert 'gridbot_nlu_parse_seconds_count{source="rasa"}' in text
    reported = [line for line in text.splitlines() if line.startswith('gridbot_tickets{state="reported"}')]
    assert reported and float(reported[0].split()[-1]) >= 1
    assert 'gridbot_open_tickets_by_tier{tier="grid"}' in text


def test_json_logs_follow_one_request(rasa_url: str, bot_factory: Any, tmp_path: Path) -> None:
    bot = bot_factory(GRIDBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'logs.db'}", GRIDBOT_NLU_URL=rasa_url,
                      GRIDBOT_LOG_FORMAT="json")  # fmt: skip
    bot.start()
    response = httpx.post(f"{bot.url}/api/v1/chats/yg-1/messages", json={"sender": "张阿姨", "text": "5号楼漏水了"},
                          headers={"Authorization": f"Bearer {API_TOKEN}", "X-Request-Id": "trace-123"})  # fmt: skip
    assert response.status_code == 201 and response.headers["x-request-id"] == "trace-123"
    message_id = response.json()["message_id"]

    def logged() -> bool:
        lines = [json.loads(line) for line in bot.log.read_text().splitlines() if line.startswith("{")]
        return any(e.get("request_id") == "trace-123" and e.get("message_id") == message_id
                   and e["logger"] == "bot.dispatcher" for e in lines)  # fmt: skip

    wait_for(logged, 10, "the dispatcher's line for trace-123")
