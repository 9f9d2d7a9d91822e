"""The holidays file: validation, the merge over chinese-calendar, the coverage warning, and the bot
that uses it (policy preview, /healthz, the admin pages) across 2026-12-31 → 2027-01-01.

chinese-calendar 1.11.0 stops at 2026. The 2027 arrangement used here is a test arrangement, not the
State Council's: only 1 January off, which the law fixes every year (《全国年节及纪念日放假办法》)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from config.holidays import HolidayError, load_holidays, parse_holidays
from config.settings import CONFIG
from escalation.calendar import Holidays, coverage_warning, is_workday, uncovered, use_holidays
from escalation.policy import PolicyBook
from escalation.preview import preview
from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot
from tests.unit.test_calendar import OFFICE, bj, policy

NEW_YEAR_2027 = "2027:\n  source: test\n  days_off:\n    - {name: 元旦, date: 2027-01-01}\n"
EVE = bj(2026, 12, 31, 16, 0)  # Thursday 16:00: 1.5 working hours left in 2026
TODAY = date(2026, 12, 7)


@pytest.fixture(autouse=True)
def restore_calendar() -> Iterator[None]:
    yield
    use_holidays(Holidays())  # the calendar is process-wide: leave it as other tests expect


def nags(book: PolicyBook, at: datetime) -> list[datetime]:
    return [s.at for s in preview(book, "report_public_facility", at) if s.action == "nag"]


BOOK = PolicyBook(policy(working=OFFICE, accept_s=4 * 3600, nag_at=(0.5,)), {})


def test_without_2027_the_first_nag_falls_on_new_years_day_and_the_warning_fires() -> None:
    use_holidays(load_holidays(CONFIG / "holidays.yaml"))  # the shipped file: 2027 listed, not published
    assert nags(BOOK, EVE)[0] == bj(2027, 1, 1, 9, 0)  # 1.5 h on the 31st + 0.5 h on a "workday" 元旦
    assert uncovered(TODAY)[0] == date(2027, 1, 1) and len(uncovered(TODAY)) == 60 - 25
    warning = coverage_warning(TODAY)
    assert warning is not None and "2027" in warning and "2027-01-01" in warning


def test_with_a_loaded_2027_file_the_nag_skips_new_years_day_and_the_weekend() -> None:
    use_holidays(parse_holidays(NEW_YEAR_2027))
    assert not is_workday(date(2027, 1, 1))
    assert nags(BOOK, EVE)[0] == bj(2027, 1, 4, 9, 0)  # Monday
    assert uncovered(TODAY) == [] and coverage_warning(TODAY) is None


def test_the_file_overrides_the_library_day_by_day_and_keeps_the_rest() -> None:
    use_holidays(parse_holidays("2026:\n  days_off:\n    - {name: 地方假日, date: 2026-12-01}\n"))
    assert not is_workday(date(2026, 12, 1))  # the file's extra day off
    assert not is_workday(date(2026, 10, 1))  # the library's 国庆节 still counts
    assert is_workday(date(2026, 10, 10))  # and its make-up Saturday


def test_a_year_listed_without_days_is_not_published_and_stays_uncovered() -> None:
    use_holidays(parse_holidays("2027: {}\n"))
    assert uncovered(date(2026, 12, 31), days=2) == [date(2027, 1, 1)]


@pytest.mark.parametrize(
    ("text", "error"),
    [("2027:\n  days_off:\n    - {name: 元旦, date: 2026-12-31}\n", "不在 2027 年内"),
     ("2027:\n  days_off:\n    - {name: 春节, from: 2027-02-06, to: 2027-02-07}\n"
      "  workdays:\n    - {name: 春节, date: 2027-02-06}\n", "既是放假日又是调休上班日"),
     ("2027:\n  days_off:\n    - {name: 元旦, date: 2027-01-01}\n  workdays:\n    - {name: 春节, date: 2027-01-05}\n",
      "不是周六或周日"),
     ("2027:\n  days_off:\n    - {name: 元旦, date: 2027-13-01}\n", "日期无效"),
     ("2027:\n  days_off:\n    - {name: 元旦, date: '1月1日'}\n", "不是日期"),
     ("2027:\n  off:\n    - {name: 元旦, date: 2027-01-01}\n", "请写 days_off"),
     ("2027:\n  days_off:\n    - {date: 2027-01-01}\n", "缺少节日名称"),
     ("2027:\n  days_off:\n    - {name: 春节, from: 2027-02-10, to: 2027-02-01}\n", "早于"),
     ("2027:\n  holidays: []\n", "未知字段"),
     ("twenty: {}\n", "不是年份"),
     ("2027:\n  days_off: [\n", "YAML"),
     ("- 2027\n", "映射")],
)  # fmt: skip
def test_bad_files_get_a_clear_bilingual_error(text: str, error: str) -> None:
    with pytest.raises(HolidayError, match=error) as raised:
        parse_holidays(text)
    assert " / " in str(raised.value)  # Chinese / English


def test_the_shipped_file_is_valid_and_invents_no_2027_dates() -> None:
    shipped = load_holidays(CONFIG / "holidays.yaml")
    assert 2027 in shipped.years and not shipped.published(2027)


def test_the_bot_warns_then_uses_the_file_an_admin_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The start-up log, /healthz, the dashboard and the policy preview before and after an admin loads 2027
    (the in-process bot's clock starts on 2026-12-02, so 2027 is within 60 days)."""
    holidays = tmp_path / "holidays.yaml"
    holidays.write_text((CONFIG / "holidays.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    bot = InProcessBot(tmp_path, GRIDBOT_HOLIDAYS=str(holidays), GRIDBOT_ADMIN_USER=ADMIN_USER,
                       GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)  # fmt: skip
    try:
        started = [r for r in caplog.records if r.levelname == "WARNING" and "节假日安排缺失" in r.getMessage()]
        assert started and "2027" in started[0].getMessage()
        health = bot.client().get("/healthz").json()
        assert health["calendar"] == "gap" and "2027" in health["detail"]["calendar"]
        admin = AdminWeb("http://bot")
        admin.http = bot.client(headers={"Accept": "text/html"})
        assert admin.login().status_code == 303
        assert 'id="calendar-warning"' in admin.http.get("/admin").text
        preview_at = "/admin/policies?type=report_public_facility&at=2026-12-31T16:00"
        assert "01月01日" in _first_nag(admin.http.get(preview_at).text)

        bad = admin.post("/admin/holidays", {"yaml": "2027:\n  workdays:\n    - {name: x, date: 2027-01-06}\n",
                                             "op": "save"})  # fmt: skip
        assert bad.status_code == 422 and "不是周六或周日" in bad.text
        saved = admin.post("/admin/holidays", files={"file": ("2027.yaml", NEW_YEAR_2027.encode())},
                           data={"csrf": admin.csrf, "op": "save"}, csrf=False)  # fmt: skip
        assert saved.status_code == 200 and "已保存" in saved.text
        assert holidays.read_text(encoding="utf-8") == NEW_YEAR_2027
        assert "01月04日" in _first_nag(admin.http.get(preview_at).text)
        assert 'id="calendar-warning"' not in admin.http.get("/admin").text
        health = bot.client().get("/healthz").json()
        assert health["calendar"] == "ok" and "detail" not in health
        audit = admin.http.get("/admin/audit").text
        assert "holidays.save" in audit
    finally:
        bot.close()


def _first_nag(html: str) -> str:
    return next(row for row in re.findall(r"<tr>.*?</tr>", html, re.S) if "催办" in row)
