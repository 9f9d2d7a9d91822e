"""The command centre's map in a real browser: the demo district's boundaries drawn by ECharts from the
registered GeoJSON, a click on a region drills down and 返回上级 goes back, and an officer's map opens on
their own township and cannot be pointed at another one. A light bot: SQLite and the keyword rules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import login
from tests.conftest import BotProcess
from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.e2e.helpers import Api

XINGFU_CENTRE = [113.62, 34.77]  # the middle of 幸福街道 in config/grids.demo.yaml


@pytest.fixture(scope="module")
def map_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    tmp = tmp_path_factory.mktemp("map")
    bot = BotProcess(
        {"GRIDBOT_DATABASE_URL": f"sqlite:///{tmp / 'bot.db'}", "GRIDBOT_VAR_DIR": str(tmp / "var"),
         "GRIDBOT_NLU": "rules", "GRIDBOT_ADMIN_USER": ADMIN_USER, "GRIDBOT_ADMIN_PASSWORD": ADMIN_PASSWORD,
         "GRIDBOT_ADMIN_SECURE_COOKIES": "false"},
        tmp / "bot.log",
    )  # fmt: skip
    bot.start(timeout_s=120)
    api = Api(bot.url)
    api.say("yg-1", "张阿姨", "3号楼门口的路灯坏了 晚上黑漆漆的")
    api.say("df-1", "赵大爷", "三组路口的水管爆了 到处都是水")
    admin = AdminWeb(bot.url)
    assert admin.login().status_code == 303
    created = admin.post("/admin/accounts", {"op": "create", "username": "zhao", "person_id": "o-xingfu",
                                             "password": "zhao-pass-123"})  # fmt: skip
    assert created.status_code == 200 and "已完成" in created.text
    yield bot
    bot.stop()


def drawn(page: Page, node: str, regions: str) -> None:
    chart = page.locator("#map-chart")
    expect(chart).to_have_attribute("data-node", node, timeout=15000)
    expect(chart).to_have_attribute("data-regions", regions)
    expect(page.locator("#map-chart canvas").first).to_be_visible()


def test_the_map_draws_the_district_and_drills_down_by_clicking_a_region(browser: Browser, map_bot: BotProcess) -> None:
    page = login(browser, map_bot.url)
    drawn(page, "shifan", "heping,xingfu")  # the district's townships
    shown = page.evaluate("""() => {
        const c = echarts.getInstanceByDom(document.getElementById('map-chart'));
        const o = c.getOption();
        return {features: echarts.getMap('gridbot-shifan').geoJSON.features.map(f => f.properties.label).sort(),
                open: o.series[0].data.map(d => [d.name, d.value])};
    }""")
    assert shown["features"] == ["和平镇", "幸福街道"]
    assert sorted(shown["open"]) == [["heping", 1], ["xingfu", 1]]
    expect(page.locator("#map-up")).to_be_hidden()

    at = page.evaluate(
        "(p) => echarts.getInstanceByDom(document.getElementById('map-chart')).convertToPixel({geoIndex: 0}, p)",
        XINGFU_CENTRE,
    )
    box = page.locator("#map-chart").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + at[0], box["y"] + at[1])
    drawn(page, "xingfu", "hehua,yangguang")
    expect(page.locator("#map-path")).to_contain_text("幸福街道")
    page.click("#map-up")
    drawn(page, "shifan", "heping,xingfu")
    page.context.close()


def test_an_officers_map_stays_in_their_township(browser: Browser, map_bot: BotProcess) -> None:
    page = login(browser, map_bot.url, "zhao", "zhao-pass-123")
    drawn(page, "xingfu", "hehua,yangguang")
    expect(page.locator("#map-up")).to_be_hidden()
    codes = page.evaluate("""async () => Promise.all(['heping', 'df-1', 'shifan'].map(n =>
        fetch('/admin/api/map?node=' + n).then(r => r.status)))""")
    assert codes == [404, 404, 404]
    page.context.close()
