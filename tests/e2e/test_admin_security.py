"""The admin web's security review (issue 18, group C) over HTTP, on the in-process bot (tests/inproc.py:
the real app on SQLite, keyword rules, no Rasa, no sockets): who a case may be reassigned to, the
login's answers and throttles, upload and template limits, the session cookie's flags."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    process = InProcessBot(tmp_path_factory.mktemp("admin-sec"), GRIDBOT_ADMIN_USER=ADMIN_USER,
                           GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)  # fmt: skip
    yield process
    process.close()


def signed_in(bot: InProcessBot, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD,
              address: str = "127.0.0.1") -> AdminWeb:  # fmt: skip
    web = AdminWeb(http=bot.client(address=address))
    response = web.login(username, password)
    assert response.status_code == 303, response.text
    return web


def officer(bot: InProcessBot, admin: AdminWeb, username: str, person: str) -> AdminWeb:
    created = admin.post("/admin/accounts", {"op": "create", "username": username, "person_id": person,
                                             "password": "officer-pass-1"})  # fmt: skip
    assert created.status_code == 200 and "已完成" in created.text, created.text
    return signed_in(bot, username, "officer-pass-1")


@pytest.fixture(scope="module")
def admin(bot: InProcessBot) -> AdminWeb:
    return signed_in(bot)


def test_a_case_is_reassigned_only_to_someone_who_serves_its_grid(bot: InProcessBot, admin: AdminWeb) -> None:
    """Finding 5: an officer of 幸福街道 handed a 阳光社区 case to a worker of 和平镇, who got the
    resident's details and could not act on it."""
    zhao = officer(bot, admin, "zhao-reassign", "o-xingfu")
    ticket = bot.say("yg-1", "张阿姨", "3号楼门口的路灯坏了 我电话13812345678")["replies"][0]["ticket_id"]
    path = f"/admin/tickets/{ticket}/action"
    page = zhao.http.get(f"/admin/tickets/{ticket}").text
    form = page.split('id="form-reassign"', 1)[1].split("</form>", 1)[0]
    offered = set(_values(form))
    assert offered == {"w-yg-1", "o-yangguang", "o-xingfu", "o-shifan"}  # the grid's worker and the tiers above
    for stranger in ("w-df-1", "w-yg-2", "w-hh-1", "o-heping", "d-chengguan", "admin", "张阿姨", ""):
        refused = zhao.post(path, {"action": "reassign", "argument": stranger})
        assert refused.status_code == 409 and "只能改派给负责该工单所在网格" in refused.text, stranger
        assert "阳光社区第1微网格" in refused.text
    after = bot.ticket(ticket)
    assert after["assignee"] == "w-yg-1" and after["state"] == "reported"
    assert [e["kind"] for e in after["events"]] == ["reported"]
    assert not any(f"#{ticket}" in m["text"] for m in bot.inbox("w-df-1"))
    assert zhao.post(path, {"action": "reassign", "argument": "o-yangguang"}).status_code == 303
    assert bot.ticket(ticket)["assignee"] == "o-yangguang"
    assert any(f"#{ticket}" in m["text"] for m in bot.inbox("o-yangguang"))


def _values(form: str) -> list[str]:
    return [chunk.split('"', 1)[0] for chunk in form.split('<option value="')[1:]]
