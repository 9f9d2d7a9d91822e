"""The admin web in a real browser: log in, the dashboard's charts drawn, a ticket's timeline,
an XSS payload that stays text, an officer kept out of another township, and an intent edited and
retrained with live progress and the quality gate's verdict."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import DIALOGS, login
from tests.conftest import BotProcess
from tests.e2e.helpers import Api

XSS = '<script>alert("xss")</script><img src=x onerror="alert(1)"> 楼道里的垃圾三天没人清理了'
PROBE = "楼顶养鸽子的又把鸽子放出来了，鸽子粪掉满阳台"
PIGEON_EXAMPLES = """楼顶有人养了好多鸽子 天天掉毛
[3号楼](building)顶上的鸽棚臭死了
鸽子屎落得阳台上到处都是
有人在天台私自搭鸽棚养鸽子
楼上养的鸽子一大早咕咕叫
鸽子飞来飞去 晾的衣服全是鸽子粪
天台鸽棚招来好多苍蝇，能不能管管养鸽子的
对面楼顶那一大群鸽子太扰民了
[阳光小区](location)有人天台养鸽子 臭气熏天
鸽子把空调外机上拉满了屎
养鸽子的把楼顶都占了
鸽棚里的鸽子每天凌晨就开始叫"""


@pytest.fixture(scope="module")
def cases(admin_bot: BotProcess) -> dict[str, int]:
    api = Api(admin_bot.url)
    return {
        "xss": api.say("yg-2", "老王", f"5号楼 {XSS}")["replies"][0]["ticket_id"],
        "lamp": api.say("yg-1", "张阿姨", "3号楼门口的路灯坏了 晚上黑漆漆的")["replies"][0]["ticket_id"],
        "heping": api.say("df-1", "赵大爷", "三组路口的水管爆了 到处都是水")["replies"][0]["ticket_id"],
    }


def test_a_wrong_password_is_refused_in_the_page(browser: Browser, admin_bot: BotProcess) -> None:
    page = browser.new_page()
    page.goto(f"{admin_bot.url}/admin/tickets")
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("用户名或密码错误")
    page.context.close()


def test_dashboard_draws_its_charts_and_numbers_drill_down(browser: Browser, admin_bot: BotProcess,
                                                           cases: dict[str, int]) -> None:  # fmt: skip
    page = login(browser, admin_bot.url)
    for chart in ("chart-tiers", "chart-trend", "chart-types"):
        expect(page.locator(f"#{chart} canvas")).to_have_count(1)
        expect(page.locator(f"#{chart}")).to_have_attribute("data-drawn", "true")
    drawn = page.evaluate("""() => ['chart-tiers', 'chart-trend', 'chart-types'].map(id => {
        const c = echarts.getInstanceByDom(document.getElementById(id));
        return c.getOption().series.reduce((n, s) => n + s.data.reduce((a, v) => a + (v.value ?? v), 0), 0);
    })""")
    assert drawn[0] >= 3 and drawn[1] >= 3 and drawn[2] >= 3, drawn  # 3 open cases, created today, 3 types
    canvas = page.locator("#chart-types canvas").bounding_box()
    assert canvas and canvas["width"] > 200 and canvas["height"] > 200
    expect(page.locator("[data-figure=open]")).to_have_text("3")
    page.click("a.stat:has-text('未办结')")
    expect(page).to_have_url(re.compile(r"/admin/tickets\?state=open"))
    expect(page.locator("#ticket-list tr")).to_have_count(4)  # header + 3
    page.context.close()


def test_a_ticket_shows_its_timeline_and_messages(browser: Browser, admin_bot: BotProcess,
                                                  cases: dict[str, int]) -> None:  # fmt: skip
    Api(admin_bot.url).say("yg-1", "w-yg-1", f"#{cases['lamp']} 收到")
    page = login(browser, admin_bot.url)
    page.goto(f"{admin_bot.url}/admin/tickets")
    page.click(f"a[href='/admin/tickets/{cases['lamp']}']")
    expect(page.locator("#timeline li")).to_have_count(2)
    expect(page.locator("#timeline li").nth(0)).to_contain_text("报事")
    expect(page.locator("#timeline li").nth(1)).to_contain_text("接单")
    expect(page.locator("#messages")).to_contain_text("3号楼门口的路灯坏了")
    expect(page.locator("#messages")).to_contain_text("已由网格员李建国接单")
    page.context.close()


def test_an_xss_payload_stays_text(browser: Browser, admin_bot: BotProcess, cases: dict[str, int]) -> None:
    page = login(browser, admin_bot.url)
    for path in (f"/admin/tickets/{cases['xss']}", "/admin/tickets?q=script", "/admin"):
        page.goto(admin_bot.url + path)
        page.wait_for_load_state("load")
        page.wait_for_timeout(300)
    assert DIALOGS[page] == []  # neither the <script> nor the onerror ran
    page.goto(f"{admin_bot.url}/admin/tickets/{cases['xss']}")
    expect(page.locator("#ticket-text")).to_contain_text('<script>alert("xss")</script>')
    assert page.locator("#facts img").count() == 0 and page.locator("#facts script").count() == 0
    page.context.close()


def test_an_officer_cannot_open_another_townships_ticket(browser: Browser, admin_bot: BotProcess,
                                                         cases: dict[str, int]) -> None:  # fmt: skip
    admin = login(browser, admin_bot.url)
    admin.goto(f"{admin_bot.url}/admin/accounts")
    admin.fill("#account-form input[name=username]", "zhao")
    admin.select_option("#account-form select[name=person_id]", "o-xingfu")
    admin.fill("#account-form input[name=password]", "zhao-pass-123")
    admin.click("#account-form button[type=submit]")
    expect(admin.locator("#account-ok")).to_contain_text("zhao")
    admin.context.close()

    officer = login(browser, admin_bot.url, "zhao", "zhao-pass-123")
    expect(officer.locator("header .me")).to_contain_text("街道（乡镇）")
    response = officer.goto(f"{admin_bot.url}/admin/tickets/{cases['heping']}")
    assert response is not None and response.status == 403
    expect(officer.locator("body")).to_contain_text("不在您的辖区")
    response = officer.goto(f"{admin_bot.url}/admin/tickets/{cases['lamp']}")
    assert response is not None and response.status == 200
    officer.goto(f"{admin_bot.url}/admin/tickets")
    expect(officer.locator(f"a[href='/admin/tickets/{cases['heping']}']")).to_have_count(0)
    expect(officer.locator(f"a[href='/admin/tickets/{cases['lamp']}']")).to_have_count(1)
    assert "/admin/intents" not in officer.content()  # admins-only pages are not in the menu
    officer.context.close()


@pytest.mark.slow
def test_edit_an_intent_and_retrain_with_live_progress(browser: Browser, admin_bot: BotProcess) -> None:
    api = Api(admin_bot.url)
    assert api.http.post("/nlu/parse", json={"text": PROBE}).json()["intent"] != "report_pigeons"
    page = login(browser, admin_bot.url)
    page.goto(f"{admin_bot.url}/admin/intents")
    before = page.locator("#active-version").inner_text()
    page.fill("input[name=intent]", "report_pigeons")
    page.fill("input[name=name]", "鸽子扰民")
    page.click("form:has(input[name=intent]) button[type=submit]")
    expect(page).to_have_url(re.compile(r"/admin/intents/report_pigeons"))
    page.fill("textarea[name=examples]", "楼顶的鸽子太吵了\n鸽子粪满地")
    page.click("button[value=validate]")
    expect(page.locator("#intent-error")).to_contain_text("at least")  # too few examples: explained, nothing saved
    page.fill("textarea[name=examples]", PIGEON_EXAMPLES)
    page.fill("textarea[name=keywords]", "鸽子\n鸽棚")
    page.click("button[value=validate]")
    expect(page.locator("#intent-ok")).to_contain_text("校验通过")
    page.click("button[value=save]")
    expect(page).to_have_url(re.compile(r"/admin/intents\?saved=report_pigeons"))
    phases = set()
    phase = page.locator("#train-phase")
    for _ in range(600):
        phases.add(phase.inner_text())
        if phase.inner_text() in ("active", "rejected", "failed"):
            break
        page.wait_for_timeout(1000)
    assert phase.inner_text() == "active", page.locator("#train-log").inner_text()
    assert len(phases - {"active"}) >= 2, phases  # the page showed the job's phases as they went by
    expect(page.locator("#train-verdict")).to_contain_text("passed")
    assert page.locator("#active-version").inner_text() != before
    assert api.http.post("/nlu/parse", json={"text": PROBE}).json()["intent"] == "report_pigeons"
    page.reload()
    expect(page.locator("#intent-list")).to_contain_text("鸽子扰民")
    page.context.close()
