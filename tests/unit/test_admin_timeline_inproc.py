"""The admin web's ticket page on the in-process bot (tests/inproc.py): the timeline reads in Chinese,
people and nodes by name."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot


def test_the_timeline_shows_every_detail_in_chinese_and_people_by_name(tmp_path: Path) -> None:
    """Issue 22: the timeline showed `吹哨：True` and `新网格员：['w-hh-2']`."""
    bot = InProcessBot(tmp_path, GRIDBOT_ADMIN_USER=ADMIN_USER, GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)
    try:
        ticket = bot.say("hh-2", "郑阿姨", "荷花苑西区3栋门口的垃圾桶满了没人清")["replies"][0]["ticket_id"]
        photo = {"sender": "郑阿姨", "text": "", "attachments": [{"kind": "image", "url": "https://x/1.jpg"}]}
        assert bot.http.post("/chats/hh-2/messages", json=photo).status_code == 201
        bot.say("hh-2", "w-hh-2", f"#{ticket} 收到")
        bot.say("hh-2", "w-hh-2", f"#{ticket} 申请挂账 等环卫公司换新桶")
        bot.say("hh-2", "w-hh-2", f"/吹哨 {ticket} 环卫公司不来，请社区协调")
        admin = AdminWeb(http=bot.client())
        assert admin.login().status_code == 303
        page = admin.http.get(f"/admin/tickets/{ticket}")
        assert page.status_code == 200
        timeline = re.search(r"<ol[^>]*>(.*?)</ol>", page.text, re.S)
        assert timeline, page.text
        details = re.findall(r'<span class="detail">(.*?)</span>', timeline.group(1), re.S)
        shown = "\n".join(details)
        for raw in ("True", "False", "[", "{", "w-hh-2", "o-hehua", "community", "accept", "resolve", "image"):
            assert raw not in shown, (raw, shown)
        assert "吹哨" in shown and "层级：社区" in shown and "荷花社区-孙书记" in shown, shown
        assert "附件：图片 ×1" in shown, shown
    finally:
        bot.close()
