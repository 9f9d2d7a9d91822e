"""The dashboard and exports read from the rollups on the in-process bot (issue 19): the figures move
with each case change, `figures rebuild` gives them again, exports stream every row page by page."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from admin import pages_tickets
from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot


@pytest.fixture
def bot(tmp_path: Path):  # type: ignore[no-untyped-def]
    bot = InProcessBot(tmp_path, GRIDBOT_ADMIN_USER=ADMIN_USER, GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)
    yield bot
    bot.close()


def _dashboard(admin: AdminWeb) -> dict:  # type: ignore[type-arg]
    return admin.http.get("/admin/api/dashboard?days=7").json()


def test_the_dashboard_moves_with_each_case_change(bot: InProcessBot) -> None:
    admin = AdminWeb(http=bot.client())
    assert admin.login().status_code == 303
    before = _dashboard(admin)
    t = bot.say("yg-1", "赵大爷", "3号楼门口的垃圾好几天没人收了")["replies"][0]["ticket_id"]
    bot.say("yg-1", "w-yg-1", f"#{t} 收到")
    now = _dashboard(admin)
    assert now["summary"]["created"] == before["summary"]["created"] + 1
    assert now["standing"]["open"] == before["standing"]["open"] + 1
    assert sum(now["trend"]["created"]) == sum(before["trend"]["created"]) + 1
    row = next(g for g in now["grids"] if g["id"] == "yg-1")
    assert row["created"] >= 1 and row["open"] >= 1
    photo = {"sender": "w-yg-1", "text": f"#{t}", "attachments": [{"kind": "image", "url": "/chat/media/cc33"}]}
    assert bot.http.post("/chats/yg-1/messages", json=photo).status_code == 201  # the proof photo
    bot.say("yg-1", "w-yg-1", f"#{t} 已处理 清运完毕")
    bot.say("yg-1", "赵大爷", "修好了 满意")
    assert admin.post(f"/admin/tickets/{t}/action", {"action": "verify_pass"}).status_code == 303  # 社区核查
    closed = _dashboard(admin)
    assert closed["summary"]["closed"] == before["summary"]["closed"] + 1
    assert closed["summary"]["satisfaction"]["ratings"] == before["summary"]["satisfaction"]["ratings"] + 1
    assert sum(closed["trend"]["closed"]) == sum(before["trend"]["closed"]) + 1
    assert closed["standing"]["open"] == before["standing"]["open"]


def test_exports_stream_every_row_in_pages(bot: InProcessBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pages_tickets, "EXPORT_PAGE", 2)
    texts = [f"{n}号楼门口的垃圾好几天没人收了" for n in range(1, 6)] + ["=1+1 8号楼门口的垃圾好几天没人收了"]
    ids = [bot.say("yg-1", f"居民{i}", text)["replies"][0]["ticket_id"] for i, text in enumerate(texts)]
    admin = AdminWeb(http=bot.client())
    assert admin.login().status_code == 303
    lines = admin.http.get("/admin/tickets/export.csv").content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("工单号") and sorted(int(line.split(",")[0]) for line in lines[1:]) == sorted(ids)
    book = load_workbook(io.BytesIO(admin.http.get("/admin/tickets/export.xlsx").content))
    rows = list(book.active.iter_rows(values_only=True))
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(ids)
    formula = next(r for r in rows[1:] if "1+1" in str(r[6]))
    assert str(formula[6]).startswith("'=")  # a resident's text is never a formula
