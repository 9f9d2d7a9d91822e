"""我的积分 on one-to-one lines (tests/inproc.py): staff ask the WeCom app, an officer above grid level
and department staff too (no grid chat of their own), and the answer is theirs alone, in one-to-one words."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_wecom import AES_KEY, CORP
from tests.e2e.test_wecom import TOKEN as WECOM_TOKEN
from tests.inproc import InProcessBot
from tests.unit.test_private_lines_inproc import app_message, group_transcript


def test_staff_ask_for_their_points_on_the_wecom_app(tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_WECOM_CORP_ID=CORP, GRIDBOT_WECOM_TOKEN=WECOM_TOKEN,
                       GRIDBOT_WECOM_AES_KEY=AES_KEY)  # fmt: skip
    try:
        app = bot.client()
        bot.say("yg-1", "w-yg-1", "报平安")
        worker = app_message(app, "w-yg-1", "我的积分", 1)
        assert "可用 1 分" in worker and "报平安 +1 分" in worker and "@" not in worker, worker
        officer = app_message(app, "o-xingfu", "/积分", 2)  # a township officer: no grid chat of their own
        assert "还没有积分" in officer and "@" not in officer, officer
        department = app_message(app, "d-chengguan", "我的积分", 3)  # department staff serve no grid
        assert "还没有积分" in department, department
        for messages in group_transcript(bot, "yg-1"):
            assert not any("可用" in m["text"] for m in messages)  # never in the group
    finally:
        bot.close()
