"""The admin web over real HTTP against a real bot (SQLite, real Rasa): login and its lock, CSRF,
jurisdiction, escaping, ticket actions, exports, directory import/export, policy and template
editing, and the audit log."""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from config.settings import CONFIG
from tests.conftest import BotProcess
from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.e2e.helpers import Api

XSS = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("admin")
    shutil.copy(CONFIG / "policies" / "default.yaml", tmp / "policies.yaml")
    shutil.copy(CONFIG / "templates.yaml", tmp / "templates.yaml")
    return tmp


@pytest.fixture(scope="module")
def bot(rasa_url: str, files: Path) -> Iterator[BotProcess]:
    process = BotProcess(
        {"GRIDBOT_DATABASE_URL": f"sqlite:///{files / 'admin.db'}", "GRIDBOT_NLU_URL": rasa_url,
         "GRIDBOT_VAR_DIR": str(files / "var"), "GRIDBOT_ADMIN_USER": ADMIN_USER,
         "GRIDBOT_ADMIN_PASSWORD": ADMIN_PASSWORD, "GRIDBOT_POLICIES": str(files / "policies.yaml"),
         "GRIDBOT_TEMPLATES": str(files / "templates.yaml"),
         "GRIDBOT_ADMIN_SECURE_COOKIES": "false"},  # plain http://127.0.0.1: the client would not send Secure cookies
        files / "bot.log",
    )  # fmt: skip
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def admin(bot: BotProcess) -> AdminWeb:
    web = AdminWeb(bot.url)
    assert web.login().status_code == 303
    return web


@pytest.fixture(scope="module")
def cases(bot: BotProcess) -> dict[str, int]:
    """A case in each township (幸福街道: yg-1, 和平镇: df-1), one carrying an XSS payload."""
    api = Api(bot.url)
    xingfu = api.say("yg-1", "张阿姨", f"3号楼门口的路灯坏了 {XSS}")["replies"][0]["ticket_id"]
    heping = api.say("df-1", "赵大爷", "三组路口的水管爆了 到处都是水")["replies"][0]["ticket_id"]
    return {"xingfu": xingfu, "heping": heping}


def officer(bot: BotProcess, admin: AdminWeb, username: str, person: str) -> AdminWeb:
    created = admin.post("/admin/accounts", {"op": "create", "username": username, "person_id": person,
                                             "password": "officer-pass-1"})  # fmt: skip
    assert created.status_code == 200 and "已完成" in created.text, created.text
    web = AdminWeb(bot.url)
    assert web.login(username, "officer-pass-1").status_code == 303
    return web


def test_pages_need_a_login(bot: BotProcess) -> None:
    web = AdminWeb(bot.url)
    for path in ("/admin", "/admin/tickets", "/admin/tickets/1", "/admin/policies", "/admin/api/dashboard"):
        response = web.http.get(path)
        assert response.status_code == 303 and response.headers["location"].startswith("/admin/login"), path
    assert web.http.post("/admin/policies", data={"yaml": "x"}).status_code == 303


def test_a_wrong_password_is_refused_and_the_fifth_locks_the_account(bot: BotProcess, admin: AdminWeb) -> None:
    victim = officer(bot, admin, "lock-me", "o-hehua")
    assert victim.http.get("/admin").status_code == 200
    web = AdminWeb(bot.url)
    for _ in range(5):
        refused = web.login("lock-me", "wrong-password")
        assert refused.status_code == 401 and "用户名或密码错误" in refused.text
    locked = web.login("lock-me", "officer-pass-1")  # even the right password, while locked
    unknown = web.login("no-such-user", "whatever-1")
    assert locked.status_code == unknown.status_code == 401
    assert _error(locked.text) == _error(unknown.text) == _error(refused.text)  # one answer: nothing to tell apart
    audit = admin.http.get("/admin/audit", params={"target": "account:lock-me"}).text
    assert audit.count("login.failed") == 5


def test_a_post_without_the_session_csrf_token_changes_nothing(admin: AdminWeb, files: Path) -> None:
    before = (files / "policies.yaml").read_text(encoding="utf-8")
    for token in ({}, {"csrf": "forged"}):
        response = admin.http.post("/admin/policies", data={"yaml": "default: {}", "op": "save", **token})
        assert response.status_code == 403 and "CSRF" in response.text
    assert (files / "policies.yaml").read_text(encoding="utf-8") == before
    login = AdminWeb(admin.http.base_url.__str__())
    stale = login.http.post("/admin/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD})
    assert stale.status_code == 403  # the login form's own token is missing


def test_what_a_resident_wrote_is_shown_as_text(admin: AdminWeb, cases: dict[str, int]) -> None:
    page = admin.http.get(f"/admin/tickets/{cases['xingfu']}").text
    assert "<script>document.title" not in page and "<img src=x" not in page
    assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in page
    listing = admin.http.get("/admin/tickets", params={"q": "onerror"}).text
    assert "<img src=x" not in listing and f"#{cases['xingfu']}" in listing


def test_an_officer_sees_and_acts_on_their_own_township_only(bot: BotProcess, admin: AdminWeb,
                                                              cases: dict[str, int]) -> None:  # fmt: skip
    xingfu = officer(bot, admin, "zhao", "o-xingfu")
    assert xingfu.http.get(f"/admin/tickets/{cases['xingfu']}").status_code == 200
    other = xingfu.http.get(f"/admin/tickets/{cases['heping']}")
    assert other.status_code == 403 and "不在您的辖区" in other.text
    acted = xingfu.post(f"/admin/tickets/{cases['heping']}/action", {"action": "close", "note": "无效报事"})
    assert acted.status_code == 403
    assert Api(bot.url).ticket(cases["heping"])["state"] == "reported"
    listing = xingfu.http.get("/admin/tickets").text
    assert f"#{cases['xingfu']}<" in listing and f"#{cases['heping']}<" not in listing
    figures = xingfu.http.get("/admin/api/dashboard").json()
    assert {g["id"] for g in figures["grids"]} >= {"xingfu", "yg-1"} and "heping" not in {
        g["id"] for g in figures["grids"]
    }
    assert xingfu.http.get("/admin/policies").status_code == 403  # admins only
    exported = xingfu.http.get("/admin/tickets/export.csv").content.decode("utf-8-sig")
    assert "3号楼门口的路灯坏了" in exported and "三组路口" not in exported


def test_ticket_actions_run_the_loop_notify_and_are_audited(bot: BotProcess, admin: AdminWeb) -> None:
    api = Api(bot.url)
    ticket = api.say("yg-2", "老王", "5号楼楼道里堆满了垃圾没人清理")["replies"][0]["ticket_id"]
    path = f"/admin/tickets/{ticket}/action"
    wrong_grid = admin.post(path, {"action": "reassign", "argument": "w-yg-1"})  # yg-1's worker: not this grid
    assert wrong_grid.status_code == 409 and "只能改派给负责该工单所在网格" in wrong_grid.text
    assert admin.post(path, {"action": "reassign", "argument": "o-yangguang"}).status_code == 303
    assert api.ticket(ticket)["assignee"] == "o-yangguang"
    assert any(f"#{ticket}" in m["text"] for m in api.inbox("o-yangguang"))
    assert admin.post(path, {"action": "escalate", "note": "需要物业配合"}).status_code == 303
    assert api.ticket(ticket)["tier"] == "community"
    refused = admin.post(path, {"action": "suspend", "note": ""})
    assert refused.status_code == 409 and "挂账需要写明原因" in refused.text
    assert admin.post(path, {"action": "suspend", "note": "等待物业清运车"}).status_code == 303
    assert api.ticket(ticket)["state"] == "suspended"
    assert admin.post(path, {"action": "resume"}).status_code == 303
    assert admin.post(path, {"action": "close", "note": "已线下办结"}).status_code == 303
    done = api.ticket(ticket)
    assert done["state"] == "closed" and done["close_reason"] == "by_staff"
    kinds = [e["kind"] for e in done["events"] if e["actor"] == "admin"]
    assert kinds == ["reassigned", "escalated", "suspended", "resumed", "closed"]
    assert any("已线下办结" in m["text"] for m in api.chat("yg-2"))
    page = admin.http.get(f"/admin/tickets/{ticket}").text
    for label in ("改派", "上报", "挂账", "解除挂账", "办结"):
        assert label in page
    audit = admin.http.get("/admin/audit", params={"target": f"ticket:{ticket}"}).text
    for action in ("ticket.reassign", "ticket.escalate", "ticket.suspend", "ticket.resume", "ticket.close"):
        assert action in audit


def test_tickets_export_as_csv_and_xlsx_without_formula_injection(bot: BotProcess, admin: AdminWeb) -> None:
    Api(bot.url).say("hh-2", "小陈", '=HYPERLINK("http://evil") 西区2栋门口的垃圾桶满了')
    raw = admin.http.get("/admin/tickets/export.csv")
    assert raw.status_code == 200 and raw.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.content.decode("utf-8-sig"))))
    assert rows[0][0] == "工单号" and len(rows) >= 3
    texts = [r[6] for r in rows[1:]]
    assert any(t.startswith("'=HYPERLINK") for t in texts) and not any(t.startswith("=") for t in texts)
    book = load_workbook(io.BytesIO(admin.http.get("/admin/tickets/export.xlsx").content))
    sheet = book["工单"]
    cells = [c.value for c in sheet["G"]][1:]
    assert len(cells) == len(rows) - 1 and all(c.data_type == "s" for c in sheet["G"])
    filtered = list(csv.reader(io.StringIO(admin.http.get("/admin/tickets/export.csv", params={"node": "heping"})
                                           .content.decode("utf-8-sig"))))  # fmt: skip
    assert all(r[4].startswith("东风村") or r[4].startswith("新河") for r in filtered[1:]) and len(filtered) >= 2


def test_directory_round_trips_through_yaml_and_excel_and_a_bad_file_changes_nothing(admin: AdminWeb) -> None:
    exported = admin.http.get("/admin/directory/export.yaml").text
    document = yaml.safe_load(exported)
    assert document["district"]["id"] == "shifan"
    xlsx = admin.http.get("/admin/directory/export.xlsx").content
    bad = admin.post(
        "/admin/directory/import", files={"file": ("grids.yaml", b"district: {id: x}\n", "application/x-yaml")}
    )
    assert bad.status_code == 422 and "名录未改动" in bad.text
    assert admin.http.get("/admin/directory/export.yaml").text == exported
    # add a micro-grid through Excel: the workbook's 网格 sheet gets one more row
    book = load_workbook(io.BytesIO(xlsx))
    book["网格"].append(["yg-3", "阳光社区第3微网格（9号楼）", "grid", "yangguang", "yg-3"])
    book["人员"].append(["w-yg-3", "孙丽", "worker", "yg-3"])
    out = io.BytesIO()
    book.save(out)
    name = "grids.xlsx"
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    done = admin.post("/admin/directory/import", files={"file": (name, out.getvalue(), kind)})
    assert done.status_code == 303, done.text
    assert "阳光社区第3微网格" in admin.http.get("/admin/directory").text
    assert admin.post("/admin/directory/import", files={"file": ("grids.yaml", exported.encode(), "application/x-yaml")}
                      ).status_code == 303  # fmt: skip
    assert "阳光社区第3微网格" not in admin.http.get("/admin/directory").text


def test_policy_editor_validates_previews_and_saves(admin: AdminWeb, files: Path) -> None:
    text = (files / "policies.yaml").read_text(encoding="utf-8")
    broken = admin.post("/admin/policies", {"yaml": text.replace("accept: 2h", "accept: soon", 1), "op": "save"})
    assert broken.status_code == 422 and "not a duration" in broken.text
    assert (files / "policies.yaml").read_text(encoding="utf-8") == text
    # a 路灯 (public facility, working time 08:30-17:30) report on Friday 2026-12-04 at 22:00
    preview = admin.post("/admin/policies", {"yaml": text, "op": "validate", "type": "report_public_facility",
                                             "at": "2026-12-04T22:00"})  # fmt: skip
    assert preview.status_code == 200 and "校验通过" in preview.text
    assert "12月07日" in preview.text  # nothing counts over the weekend: the first deadline is Monday
    saved = admin.post("/admin/policies", {"yaml": text.replace("accept: 2h", "accept: 3h", 1), "op": "save"})
    assert saved.status_code == 200 and "已保存" in saved.text
    assert "accept: 3h" in (files / "policies.yaml").read_text(encoding="utf-8")
    audit = admin.http.get("/admin/audit", params={"target": "policies"}).text
    assert "policies.save" in audit and "accept: 3h" in audit


def test_template_editor_refuses_unknown_placeholders_and_missing_messages(bot: BotProcess, admin: AdminWeb,
                                                                            files: Path) -> None:  # fmt: skip
    text = (files / "templates.yaml").read_text(encoding="utf-8")
    unknown = admin.post(
        "/admin/templates",
        {"yaml": text.replace("#{ticket_id}（位置待补充）", "#{ticket_no}（位置待补充）"), "op": "save"},
    )
    assert unknown.status_code == 422 and "ticket_no" in unknown.text
    lines = [line for line in text.splitlines() if not line.strip().startswith("ticket_accepted:")]
    missing = admin.post("/admin/templates", {"yaml": "\n".join(lines), "op": "save"})
    assert missing.status_code == 422 and "ticket_accepted" in missing.text
    changed = text.replace("已由网格员{actor_name}接单，正在处理。", "已由网格员{actor_name}接单，马上处理。", 1)
    assert admin.post("/admin/templates", {"yaml": changed, "op": "save"}).status_code == 200
    api = Api(bot.url)
    ticket = api.say("xh-1", "钱阿姨", "新河家园2栋门口的路灯坏了 晚上黑漆漆的")["replies"][0]["ticket_id"]
    reply = api.say("xh-1", "w-xh-1", f"#{ticket} 收到")
    assert "马上处理" in reply["replies"][0]["text"]


def test_outbox_and_bulletins_pages(admin: AdminWeb) -> None:
    assert admin.http.get("/admin/outbox").status_code == 200
    assert admin.post("/admin/outbox/999999/retry").status_code == 404
    assert admin.post("/admin/bulletins", {"month": "2026-11"}).status_code == 303
    listing = admin.http.get("/admin/bulletins").text
    assert "2026-11" in listing
    first = listing.split('href="/admin/bulletins/', 1)[1].split('"', 1)[0]
    page = admin.http.get(f"/admin/bulletins/{first}").text
    assert "月度通报" in page and "办结率" in page and "data-print" in page  # admin.js prints (no inline script)


def test_many_failed_logins_from_one_address_slow_wrong_passwords_but_never_block_the_right_one(
    bot: BotProcess, admin: AdminWeb
) -> None:
    """Last in this module: afterwards wrong passwords from 127.0.0.1 are answered late for 15 minutes."""
    web = AdminWeb(bot.url)
    for i in range(20):  # different names: the per-account lock never triggers
        assert web.login(f"spray-{i}", "guess-1234").status_code == 401
    started = time.monotonic()
    late = web.login("spray-x", "guess-1234")
    assert late.status_code == 401 and time.monotonic() - started >= 2.5  # the tarpit (3 s)
    assert web.login(ADMIN_USER, ADMIN_PASSWORD).status_code == 303  # the right password goes through
    assert admin.http.get("/admin").status_code == 200  # signed-in sessions are not affected


def _error(page: str) -> str:
    return page.split('<p class="error" role="alert">', 1)[1].split("</p>", 1)[0]
