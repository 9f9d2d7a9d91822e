"""The whole loop through the real HTTP API of a real bot process, with the real Rasa model and
fast.yaml: report → ack → nag → community → township → accept → resolve → reject → resolve → rate.
Runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.settings import CONFIG
from tests.e2e.helpers import Api, wait_for

FAST = str(CONFIG / "policies" / "fast.yaml")


def escalations(api: Api, person: str) -> list[Any]:
    return [m for m in api.inbox(person) if "超时上报" in m["text"]]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_report_to_rating_closes_with_a_complete_timeline(
    backend: str, rasa_url: str, bot_factory: Callable[..., Any], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'loop.db'}" if backend == "sqlite" else request.getfixturevalue("fresh_pg")
    bot = bot_factory(
        GRIDBOT_DATABASE_URL=db, GRIDBOT_NLU_URL=rasa_url, GRIDBOT_POLICIES=FAST, GRIDBOT_AUDIT_INTERVAL_S="1"
    )
    bot.start()
    api = Api(bot.url)

    # a resident reports; one acknowledgement with the ticket number
    sent = api.say("yg-1", "张阿姨", "3号楼楼道里垃圾堆了好几天了，臭死了，麻烦处理一下")
    assert len(sent["replies"]) == 1
    ack = sent["replies"][0]
    tid = ack["ticket_id"]
    assert tid and f"#{tid}" in ack["text"] and "张阿姨" in ack["text"]
    ticket = api.ticket(tid)
    assert (ticket["type"], ticket["state"], ticket["tier"]) == ("report_sanitation", "reported", "grid")
    assert "3号楼" in ticket["location"]
    assert any("新工单" in m["text"] for m in api.inbox("w-yg-1"))

    # chitchat in the same group: no reply, no ticket
    assert api.say("yg-1", "老王", "今天天气真好，大家吃了吗")["replies"] == []

    # nobody accepts: nag, then the community officer, then the township officer
    wait_for(lambda: any("催办" in m["text"] for m in api.inbox("w-yg-1")), 6, "the nag")
    wait_for(lambda: escalations(api, "o-yangguang"), 8, "escalation to the community officer")
    wait_for(lambda: escalations(api, "o-xingfu"), 10, "escalation to the township officer")
    assert api.ticket(tid)["tier"] in ("township", "district")

    # the worker accepts by replying 收到 to the bot's post, then resolves by #id
    accepted = api.say("yg-1", "w-yg-1", "收到", reply_to=ack["message_id"])
    assert api.ticket(tid)["state"] == "accepted", accepted
    resolved = api.say("yg-1", "w-yg-1", f"#{tid} 已处理，垃圾已经清运走了")
    assert api.ticket(tid)["state"] == "resolved"
    assert "评价" in resolved["replies"][0]["text"]

    # the resident says it is not fixed: reopened, the worker resolves again, the resident rates
    api.say("yg-1", "张阿姨", "还没修好啊，楼道里还是有垃圾")
    assert api.ticket(tid)["state"] == "accepted"
    api.say("yg-1", "w-yg-1", f"#{tid} 已处理")
    rated = api.say("yg-1", "张阿姨", "满意")
    assert "5 分" in rated["replies"][0]["text"]

    final = api.ticket(tid)
    assert (final["state"], final["rating"]) == ("closed", 5)
    kinds = [e["kind"] for e in final["events"]]
    assert kinds[:2] == ["reported", "nagged"]
    tiers = [e["detail"]["tier"] for e in final["events"] if e["kind"] == "escalated"]
    assert tiers[:2] == ["community", "township"]
    for kind in ("accepted", "resolved", "reopened", "rated", "closed"):
        assert kind in kinds, kinds
    assert kinds[-2:] == ["rated", "closed"]
    assert {e["actor"] for e in final["events"] if e["kind"] in ("accepted", "resolved")} == {"w-yg-1"}
    transcript = api.chat("yg-1")
    assert [m["text"] for m in transcript if m["sender"] == "老王"] == ["今天天气真好，大家吃了吗"]
