"""The admin web's security review (issue 18, group C) over HTTP, on the in-process bot (tests/inproc.py:
the real app on SQLite, keyword rules, no Rasa, no sockets): who a case may be reassigned to, the
login's answers and throttles, upload and template limits, the session cookie's flags."""

from __future__ import annotations

import asyncio
import html
import io
import logging
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import CONFIG, Settings
from tests.conftest import ROOT
from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot
from wiring import commands


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessBot]:
    tmp = tmp_path_factory.mktemp("admin-sec")
    shutil.copy(CONFIG / "templates.yaml", tmp / "templates.yaml")  # the editor writes here, not the shipped file
    process = InProcessBot(tmp, GRIDBOT_ADMIN_USER=ADMIN_USER, GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD,
                           GRIDBOT_TEMPLATES=str(tmp / "templates.yaml"))  # fmt: skip
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


def test_a_changed_admin_password_in_the_environment_is_ignored_loudly_and_the_cli_resets_it(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding 7: a restart with a new GRIDBOT_ADMIN_PASSWORD kept the old one, refused the new one and
    said nothing. The stored password still wins (the environment never overwrites it), but start-up
    now says so and how to reset it; the reset signs the account's sessions out."""
    caplog.set_level(logging.INFO, logger="gridbot")
    first = InProcessBot(tmp_path, GRIDBOT_ADMIN_USER="boss", GRIDBOT_ADMIN_PASSWORD="first-pass-1")
    try:
        cookies = dict(signed_in(first, "boss", "first-pass-1").http.cookies)
    finally:
        first.close()
    assert not _warnings(caplog)
    second = InProcessBot(tmp_path, GRIDBOT_ADMIN_USER="boss", GRIDBOT_ADMIN_PASSWORD="second-pass-2")
    try:
        (warning,) = _warnings(caplog)
        assert "GRIDBOT_ADMIN_PASSWORD" in warning and "IGNORED" in warning and "'boss'" in warning
        assert "run_bot.py admin reset-password boss" in warning
        assert AdminWeb(http=second.client()).login("boss", "second-pass-2").status_code == 401
        old_session = second.client(cookies=cookies)
        assert old_session.get("/admin").status_code == 200
        _reset_password(tmp_path, monkeypatch, capsys)  # while the bot runs: sessions live in the database
        assert old_session.get("/admin").status_code == 303  # signed out by the reset
        assert AdminWeb(http=second.client()).login("boss", "first-pass-1").status_code == 401
        assert AdminWeb(http=second.client()).login("boss", "third-pass-3").status_code == 303
        audit = signed_in(second, "boss", "third-pass-3").http.get("/admin/audit", params={"target": "account:boss"})
        assert "account.password" in audit.text and "cli" in audit.text
    finally:
        second.close()


def _reset_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The real command line, the new password on stdin; then a too short one from --password-env."""
    env = {"GRIDBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}", "GRIDBOT_VAR_DIR": str(tmp_path / "var")}
    reset = [sys.executable, "run_bot.py", "admin", "reset-password", "boss"]
    done = subprocess.run(reset, input="third-pass-3\n", env={**os.environ, **env}, cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "third-pass-3" not in done.stdout + done.stderr
    for name, value in {**env, "SHORT_PASSWORD": "short"}.items():
        monkeypatch.setenv(name, value)
    args = commands.parser().parse_args(["admin", "reset-password", "boss", "--password-env", "SHORT_PASSWORD"])
    assert asyncio.run(commands.admin(Settings(), args)) == 2
    assert "至少 8 位" in capsys.readouterr().err


CALENDAR_GAP = "节假日安排缺失"  # escalation.calendar.coverage_warning's opening words


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Start-up warnings but the calendar's (2027's holidays are not published: it warns every start)."""
    return [r.getMessage() for r in caplog.records if r.name == "gridbot" and r.levelno >= logging.WARNING
            and not r.getMessage().startswith(CALENDAR_GAP)]  # fmt: skip


def test_the_reset_password_command_never_takes_the_password_as_an_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit):
        commands.parser().parse_args(["admin", "reset-password", "boss", "--password", "in-argv-1"])
    args = commands.parser().parse_args(["admin", "reset-password", "boss", "--password-env", "NEW_ADMIN_PASSWORD"])
    monkeypatch.setenv("NEW_ADMIN_PASSWORD", "from-env-123")
    assert commands.new_password(args.password_env) == "from-env-123"
    monkeypatch.delenv("NEW_ADMIN_PASSWORD")
    with pytest.raises(commands.CommandError):
        commands.new_password(args.password_env)


def _error(page: str) -> str:
    return page.split('<p class="error" role="alert">', 1)[1].split("</p>", 1)[0]


def test_a_locked_account_an_unknown_one_and_a_wrong_password_get_one_answer(bot: InProcessBot,
                                                                             admin: AdminWeb) -> None:  # fmt: skip
    """Finding 16: a locked account answered differently from an unknown one (which names exist, which are locked)."""
    officer(bot, admin, "lock-me", "o-hehua")
    web = AdminWeb(http=bot.client(address="10.1.0.1"))
    answers = set()
    for _ in range(5):
        wrong = web.login("lock-me", "wrong-password")
        assert wrong.status_code == 401
        answers.add(_error(wrong.text))
    locked = web.login("lock-me", "officer-pass-1")  # the right password, while locked
    unknown = web.login("no-such-user", "whatever-1")
    assert locked.status_code == unknown.status_code == 401
    answers |= {_error(locked.text), _error(unknown.text)}
    assert len(answers) == 1, answers
    audit = admin.http.get("/admin/audit", params={"target": "account:lock-me"}).text
    assert audit.count("login.failed") == 5 and "login.locked" in audit


def test_failures_from_one_address_never_block_a_right_password(bot: InProcessBot, admin: AdminWeb) -> None:
    """Finding 16: after 20 failures from one address (an office behind one NAT, or someone spraying
    from it) the right password was refused for 15 minutes."""
    officer(bot, admin, "behind-nat", "o-dongfeng")
    web = AdminWeb(http=bot.client(address="10.2.0.1"))
    for i in range(20):  # different names: no account locks
        assert web.login(f"spray-{i}", "guess-1234").status_code == 401
    colleague = AdminWeb(http=bot.client(address="10.2.0.1"))
    assert colleague.login("behind-nat", "officer-pass-1").status_code == 303
    assert colleague.http.get("/admin").status_code == 200


def test_the_template_editor_refuses_format_specs_conversions_and_attribute_access(admin: AdminWeb) -> None:
    """Finding 17: the template `{text:>5000000}` was accepted (a megabyte in every post)."""
    text = admin.http.get("/admin/templates").text
    original = yaml_text(admin)
    for placeholder in ("{text:>5000000}", "{text!r}", "{text.__class__}", "{text[0]}"):
        changed = original.replace("#{ticket_id}（位置待补充）", f"#{{ticket_id}}（位置待补充）{placeholder}", 1)
        assert changed != original
        for op in ("validate", "save"):
            refused = admin.post("/admin/templates", {"yaml": changed, "op": op})
            assert refused.status_code == 422 and "校验失败" in refused.text, (placeholder, op)
    assert yaml_text(admin) == original and "消息模板" in text


def yaml_text(admin: AdminWeb) -> str:
    page = admin.http.get("/admin/templates").text
    body = page.split('name="yaml"', 1)[1].split(">", 1)[1].split("</textarea>", 1)[0]
    return html.unescape(body)


def test_a_workbook_bomb_or_an_alias_bomb_is_refused_and_changes_nothing(bot: InProcessBot, admin: AdminWeb) -> None:
    """Finding 17: a 205 KB workbook holding a 200 MB shared string was parsed on the event loop (here 40 MB)."""
    before = admin.http.get("/admin/directory/export.yaml").text
    strings = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t>'
    strings += b"A" * (40 * 1024 * 1024) + b"</t></si></sst>"
    override = b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    override += b'spreadsheetml.sharedStrings+xml"/></Types>'
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    xlsx = admin.http.get("/admin/directory/export.xlsx").content
    bomb = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename).replace(b"</Types>", override))
        dst.writestr("xl/sharedStrings.xml", strings)
    started = time.monotonic()
    refused = admin.post("/admin/directory/import", files={"file": ("grids.xlsx", bomb.getvalue(), kind)})
    assert refused.status_code == 422 and "名录未改动" in refused.text and "MB" in refused.text
    assert time.monotonic() - started < 5
    aliases = "x: &g {id: g, name: G, chat_id: g}\nall: [*g, *g, *g]\n" + before
    refused = admin.post("/admin/directory/import", files={"file": ("grids.yaml", aliases.encode(), "text/yaml")})
    assert refused.status_code == 422 and "别名" in refused.text
    oversized = admin.post("/admin/directory/import", files={"file": ("grids.yaml", b"#" * (11 * 1024 * 1024),
                                                                      "text/yaml")})  # fmt: skip
    assert oversized.status_code == 413
    assert admin.http.get("/admin/directory/export.yaml").text == before


def test_outside_the_demo_the_admin_cookies_are_secure(tmp_path: Path) -> None:
    """The session and login-form cookies carry Secure (GRIDBOT_ADMIN_SECURE_COOKIES defaults on outside
    the demo): logging in works over HTTPS, and over plain HTTP the page says why it cannot."""
    bot = InProcessBot(tmp_path, GRIDBOT_DEMO="false", GRIDBOT_ADMIN_USER="boss", GRIDBOT_ADMIN_PASSWORD="boss-pass-1")
    try:
        secure = AdminWeb(http=bot.client("https://bot"))
        signed = secure.login("boss", "boss-pass-1")
        assert signed.status_code == 303
        cookies = [secure.http.get("/admin/login").headers["set-cookie"], *signed.headers.get_list("set-cookie")]
        assert [c.split("=", 1)[0] for c in cookies] == ["gridbot_login", "gridbot_admin", "gridbot_login"]
        for cookie in cookies:  # the form's token, the session, the form token's removal
            assert {"secure", "httponly", "samesite=strict"} <= set(cookie.lower().split("; ")), cookie
        plain = AdminWeb(http=bot.client("http://bot")).login("boss", "boss-pass-1")
        assert plain.status_code == 403 and "https://" in plain.text and "GRIDBOT_ADMIN_SECURE_COOKIES" in plain.text
    finally:
        bot.close()
