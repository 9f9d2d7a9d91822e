"""The admin web's ticket page for 派单 · 延期 · 核查 and the case's photos (issue 20), on the in-process bot."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot

POLICY = str(Path(__file__).parents[1] / "e2e" / "conversations" / "policy.yml")  # greenery: photo and 核查


def test_an_officer_dispatches_decides_the_extension_and_verifies_from_the_ticket_page(tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_POLICIES=POLICY, GRIDBOT_ADMIN_USER=ADMIN_USER,
                       GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)  # fmt: skip
    try:
        t = bot.say("yg-1", "赵大爷", "东门的大树枯死了 树枝随时会掉下来")["replies"][0]["ticket_id"]
        before = {"sender": "赵大爷", "text": "", "attachments": [{"kind": "image", "url": "/chat/media/aa11"}]}
        assert bot.http.post("/chats/yg-1/messages", json=before).status_code == 201
        bot.say("yg-1", "w-yg-1", f"#{t} 收到")
        admin = AdminWeb(http=bot.client())
        assert admin.login().status_code == 303
        page = admin.http.get(f"/admin/tickets/{t}").text
        assert 'id="form-dispatch"' in page and "区住房和城乡建设局" in page

        assert (
            admin.post(f"/admin/tickets/{t}/action", {"action": "dispatch", "argument": "zhujian"}).status_code == 303
        )
        page = admin.http.get(f"/admin/tickets/{t}").text
        assert "区住房和城乡建设局" in page and "待签收" in page and 'id="form-dispatch"' not in page
        assert bot.ticket(t)["department"] == "zhujian"

        bot.say("yg-1", "d-zhujian", f"#{t} 签收")
        bot.say("yg-1", "d-zhujian", f"#{t} 申请延期 2099-3-1 需办理砍伐许可")
        page = admin.http.get(f"/admin/tickets/{t}").text
        assert 'id="extension"' in page and "需办理砍伐许可" in page
        assert admin.post(f"/admin/tickets/{t}/action", {"action": "approve_extension"}).status_code == 303
        assert bot.ticket(t)["deadlines"]["fixed"] is True
        assert "已批准延期" in admin.http.get(f"/admin/tickets/{t}").text

        after = {"sender": "d-zhujian", "text": f"#{t}", "attachments": [{"kind": "image", "url": "/chat/media/bb22"}]}
        assert bot.http.post("/chats/yg-1/messages", json=after).status_code == 201
        bot.say("yg-1", "d-zhujian", f"#{t} 已处理 枯树已伐除")
        page = admin.http.get(f"/admin/tickets/{t}").text
        assert 'id="verify-pending"' in page and 'id="form-verify"' in page
        assert '<img src="/chat/media/aa11"' in page.split('id="photos-before"')[1].split("</ul>")[0]
        assert '<img src="/chat/media/bb22"' in page.split('id="photos-after"')[1].split("</ul>")[0]

        refused = admin.post(f"/admin/tickets/{t}/action", {"action": "verify_fail"})
        assert refused.status_code == 409 and "写明原因" in refused.text
        failed = admin.post(f"/admin/tickets/{t}/action", {"action": "verify_fail", "note": "树桩未清除"})
        assert failed.status_code == 303
        ticket = bot.ticket(t)
        assert ticket["state"] == "accepted" and "verification_failed" in [e["kind"] for e in ticket["events"]]
        dash = admin.http.get("/admin").text
        table = dash.split('id="departments"')[1].split("</table>")[0]
        assert "区住房和城乡建设局" in table and "100.0%" in table  # rework: 1 failed of 1 resolve
        export = admin.http.get("/admin/tickets/export.csv").content.decode("utf-8-sig").splitlines()
        assert "类别代码" in export[0] and "承办部门" in export[0]
        row = next(line for line in export[1:] if line.startswith(f"{t},"))
        assert "0401" in row and "绿地养护" in row and "区住房和城乡建设局" in row  # code, subtype, department
        assert [p["url"] for p in bot.ticket(t)["photos"]["after"]] == ["/chat/media/bb22"]
        kpi_csv = admin.http.get("/admin/kpis.csv", params={"month": "2026-12"}).content.decode("utf-8-sig")
        assert kpi_csv.startswith("分组,名称,排名") and "职能部门,区住房和城乡建设局,1," in kpi_csv
        assert "/admin/kpis.csv?month=2026-12" in dash
        figures = admin.http.get("/admin/api/dashboard").json()["kpis"]
        assert figures["departments"][0]["counts"]["failed_verifications"] == 1
    finally:
        bot.close()
