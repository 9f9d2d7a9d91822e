"""The admin web's 积分 page on the in-process bot (tests/inproc.py): the monthly table per grid, a
redemption at the 平安超市 (never beyond the balance, CSRF-checked, in the audit log, seen in the chat's
我的积分), the CSV export, and an officer who sees and records only their own jurisdiction."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot

# the conversation scripts' policy: no after-photo or community 核查 for garbage (the points are tested here)
POLICY = str(Path(__file__).parents[1] / "e2e" / "conversations" / "policy.yml")


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[InProcessBot]:
    """张阿姨's report in yg-1 is fixed by 李建国 on time and rated 5 (14 points for her, 5 for him), who
    also checks in (1 more)."""
    bot = InProcessBot(tmp_path, GRIDBOT_ADMIN_USER=ADMIN_USER, GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD,
                       GRIDBOT_POLICIES=POLICY)  # fmt: skip
    try:
        ticket = bot.say("yg-1", "张阿姨", "3号楼门口垃圾堆成山了 好几天没人收")["replies"][0]["ticket_id"]
        bot.say("yg-1", "w-yg-1", f"#{ticket} 收到")
        bot.say("yg-1", "w-yg-1", f"#{ticket} 已处理，垃圾清运完了")
        bot.say("yg-1", "张阿姨", "5分")
        bot.say("yg-1", "w-yg-1", "报平安")
        yield bot
    finally:
        bot.close()


def rows_of(page: str, grid_id: str) -> dict[str, list[str]]:
    """The grid's table on the page: person's name → the row's cells."""
    section = re.search(rf'<section class="card points-grid" id="grid-{grid_id}">(.*?)</section>', page, re.S)
    assert section, page
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", section.group(1), re.S):
        found = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in found]
        if cells:
            rows[cells[0]] = cells
    return rows


def redeem(web: AdminWeb, person: str, points: object, grid: str = "yg-1", **extra: object) -> httpx.Response:
    data = {"grid": grid, "person": person, "item": "洗衣粉 1 袋", "points": str(points), **extra}
    return web.post("/admin/points/redeem", data)


def test_the_monthly_table_and_a_redemption_that_never_exceeds_the_balance(bot: InProcessBot) -> None:
    admin = AdminWeb(http=bot.client())
    assert admin.login().status_code == 303
    page = admin.http.get("/admin/points")
    assert page.status_code == 200 and "平安超市" in page.text and 'href="/admin/points"' in page.text
    table = rows_of(page.text, "yg-1")
    assert table["张阿姨"][1] == "居民" and table["张阿姨"][-2:] == ["14", "14"]  # this month, balance
    assert table["李建国"][1] == "网格员" and table["李建国"][-2:] == ["6", "6"]  # on time + 报平安
    assert rows_of(page.text, "yg-2")["王秀英"][-2:] == ["0", "0"]  # a grid's worker is listed without points

    refused = redeem(admin, "张阿姨", 20)
    assert refused.status_code == 422 and "积分不足：可用 14 分" in refused.text
    assert admin.post("/admin/points/redeem", {"grid": "yg-1", "person": "张阿姨", "item": "x", "points": "5"},
                      csrf=False).status_code == 403  # fmt: skip
    assert rows_of(admin.http.get("/admin/points").text, "yg-1")["张阿姨"][-1] == "14"  # nothing recorded

    done = redeem(admin, "张阿姨", 10)
    assert done.status_code == 303 and "done=redeemed" in done.headers["location"]
    page = admin.http.get("/admin/points").text
    assert rows_of(page, "yg-1")["张阿姨"][-2:] == ["14", "4"]  # earned this month is unchanged
    assert re.search(r"<td>张阿姨</td><td>洗衣粉 1 袋</td><td>10</td><td>admin</td>", page), page
    audit = admin.http.get("/admin/audit", params={"target": "points:张阿姨"}).text
    assert "points.redeem" in audit and "洗衣粉 1 袋" in html.unescape(audit)
    said = bot.say("yg-1", "张阿姨", "我的积分")["replies"][0]["text"]
    assert "可用 4 分" in said and "本月获得 14 分" in said
    assert "还没有积分" in bot.say("yg-2", "张阿姨", "/积分")["replies"][0]["text"]  # another chat, another 张阿姨

    worker = redeem(admin, "w-yg-1", 6, item="毛巾")
    assert worker.status_code == 303
    assert rows_of(admin.http.get("/admin/points").text, "yg-1")["李建国"][-1] == "0"
    assert redeem(admin, "w-yg-2", 1).status_code == 422  # 王秀英 neither serves nor earned in yg-1

    exported = admin.http.get("/admin/points/export.csv", params={"node": "yangguang"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert lines[0][:4] == ["网格", "姓名", "账号", "身份"] and lines[0][-2:] == ["本月合计", "可用积分"]
    mine = next(r for r in lines[1:] if r[1] == "张阿姨")
    assert mine[0].startswith("阳光社区第1微网格") and mine[-2:] == ["14", "4"]
    assert all(r[0].startswith("阳光社区") for r in lines[1:])  # the node filter


def test_an_officer_sees_and_records_only_their_jurisdiction(bot: InProcessBot) -> None:
    admin = AdminWeb(http=bot.client())
    assert admin.login().status_code == 303
    created = admin.post("/admin/accounts", {"op": "create", "username": "sun", "person_id": "o-hehua",
                                             "password": "officer-pass-1"})  # fmt: skip
    assert created.status_code == 200 and "已完成" in created.text
    officer = AdminWeb(http=bot.client())
    assert officer.login("sun", "officer-pass-1").status_code == 303
    page = officer.http.get("/admin/points").text
    assert 'id="grid-hh-1"' in page and 'id="grid-yg-1"' not in page and "张阿姨" not in page
    refused = redeem(officer, "张阿姨", 1)
    assert refused.status_code == 403
    assert rows_of(admin.http.get("/admin/points").text, "yg-1")["张阿姨"][-1] == "14"
    exported = officer.http.get("/admin/points/export.csv").content.decode("utf-8-sig")
    assert "张阿姨" not in exported and "荷花社区第1微网格" in exported
