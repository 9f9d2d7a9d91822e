"""The command centre's map on the in-process bot: live counts per region with drill-down, case points,
hotspots, staff positions, the boundaries' ETag, an officer kept to their jurisdiction, and 就近派单."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot

YG1_3 = {"lng": 113.605, "lat": 34.7925}  # 3号楼 of yg-1 in the demo grid


def share(bot: InProcessBot, chat: str, sender: str, text: str, lng: float, lat: float) -> Any:
    body = {"sender": sender, "text": text, "attachments": [{"kind": "location", "lat": lat, "lng": lng}]}
    response = bot.http.post(f"/chats/{chat}/messages", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def officer(bot: InProcessBot, admin: AdminWeb, username: str, person: str) -> AdminWeb:
    created = admin.post("/admin/accounts", {"op": "create", "username": username, "person_id": person,
                                             "password": "officer-pass-1"})  # fmt: skip
    assert created.status_code == 200 and "已完成" in created.text
    web = AdminWeb(http=bot.client())
    assert web.login(username, "officer-pass-1").status_code == 303
    return web


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


def test_the_map_counts_drills_down_and_shows_points_hotspots_and_workers(tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_ADMIN_USER=ADMIN_USER, GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)
    try:
        for who, text in [("张阿姨", "3号楼楼道里垃圾堆了好几天了"), ("李大爷", "三号楼楼道又堆满垃圾了"),
                          ("王奶奶", "3#楼楼道垃圾没人清")]:  # fmt: skip
            t = bot.say("yg-1", who, text)["replies"][0]["ticket_id"]
            bot.say("yg-1", who, "不用了，已经好了")  # cancelled: out of the live counts, still a hotspot
            assert bot.ticket(t)["state"] == "cancelled"
        bot.say("df-1", "赵大爷", "三组路口的水管爆了 到处都是水")
        bot.advance(3 * 86400)  # every open case is past its accept deadline now
        share(bot, "yg-2", "w-yg-2", "报平安", 113.63, 34.78)
        admin = AdminWeb(http=bot.client())
        assert admin.login().status_code == 303

        top = admin.http.get("/admin/api/map").json()
        regions = by_id(top["regions"])
        assert set(regions) == {"xingfu", "heping"}  # the district's townships
        assert (regions["heping"]["open"], regions["heping"]["overdue"]) == (1, 1)
        assert (regions["xingfu"]["open"], regions["xingfu"]["overdue"]) == (0, 0)
        spot = top["hotspots"][0]
        assert (spot["grid"], spot["count"], spot["type"]) == ("yg-1", 3, "report_sanitation")
        assert spot["at"] == [YG1_3["lng"], YG1_3["lat"]]  # 三号楼 = 3#楼 = 3号楼 of the directory
        assert [w["id"] for w in top["workers"]] == ["w-yg-2"]

        down = admin.http.get("/admin/api/map", params={"node": "xingfu"}).json()
        assert set(by_id(down["regions"])) == {"yangguang", "hehua"}
        assert [p["id"] for p in down["path"]] == ["shifan", "xingfu"]
        grid = admin.http.get("/admin/api/map", params={"node": "yg-2"}).json()
        assert [r["id"] for r in grid["regions"]] == ["yg-2"] and not grid["regions"][0]["drill"]

        geo = admin.http.get("/admin/api/map/geo", params={"node": "xingfu"})
        assert {f["properties"]["name"] for f in geo.json()["features"]} == {"yangguang", "hehua"}
        again = admin.http.get("/admin/api/map/geo", params={"node": "xingfu"},
                               headers={"If-None-Match": geo.headers["etag"]})  # fmt: skip
        assert again.status_code == 304

        opened = bot.say("yg-1", "张阿姨", "3号楼东门的路灯坏了")["replies"][0]["ticket_id"]
        points = {c["id"]: c for c in admin.http.get("/admin/api/map").json()["cases"]}
        assert points[opened]["at"] == [YG1_3["lng"], YG1_3["lat"]] and points[opened]["source"] == "building"
    finally:
        bot.close()


def test_an_officer_cannot_see_or_drill_into_another_jurisdiction(tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_ADMIN_USER=ADMIN_USER, GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)
    try:
        bot.say("df-1", "赵大爷", "三组路口的水管爆了 到处都是水")
        share(bot, "df-1", "w-df-1", "报平安", 113.65, 34.78)
        admin = AdminWeb(http=bot.client())
        assert admin.login().status_code == 303
        zhao = officer(bot, admin, "zhao", "o-xingfu")
        mine = zhao.http.get("/admin/api/map").json()
        assert set(by_id(mine["regions"])) == {"yangguang", "hehua"}  # 幸福街道's communities only
        assert mine["cases"] == [] and mine["workers"] == [] and mine["path"] == [{"id": "xingfu", "name": "幸福街道"}]
        for node in ("heping", "df-1", "shifan", "nowhere"):
            assert zhao.http.get("/admin/api/map", params={"node": node}).status_code == 404
            assert zhao.http.get("/admin/api/map/geo", params={"node": node}).status_code == 404
        assert zhao.http.get("/admin/api/map", params={"node": "hehua"}).status_code == 200
        ticket = bot.http.get("/tickets").json()["tickets"][0]["id"]
        assert zhao.http.get("/admin/api/map/near", params={"ticket": ticket}).status_code == 404
    finally:
        bot.close()


def test_nearest_workers_and_dispatch_ping_with_the_distance(tmp_path: Path) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_ADMIN_USER=ADMIN_USER, GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)
    try:
        bot.say("yg-1", "张阿姨", "路灯坏了")
        ticket = share(bot, "yg-1", "张阿姨", "", YG1_3["lng"], YG1_3["lat"])["replies"][0]["ticket_id"]
        share(bot, "yg-1", "o-yangguang", "我在3号楼附近", 113.608, 34.7925)  # ~270 m away, may take it
        share(bot, "yg-1", "w-yg-1", "报平安", 113.605, 34.7750)  # ~1.95 km away, the grid's worker
        share(bot, "df-1", "w-df-1", "报平安", 113.6055, 34.7925)  # close, but not of this grid: cannot take it
        admin = AdminWeb(http=bot.client())
        assert admin.login().status_code == 303

        near = admin.http.get("/admin/api/map/near", params={"ticket": ticket}).json()
        assert [(p["id"], p["metres"]) for p in near["people"]] == [("o-yangguang", 274), ("w-yg-1", 1946)]
        page = admin.http.get(f"/admin/tickets/{ticket}").text
        assert 'id="nearby"' in page

        too_far = admin.post(f"/admin/tickets/{ticket}/nearby", {"person": "w-df-1"})
        assert too_far.status_code == 409  # refused by the transition: not someone who may take the case
        assert admin.post(f"/admin/tickets/{ticket}/nearby", {"person": "o-yangguang"}).status_code == 303
        assert bot.ticket(ticket)["assignee"] == "o-yangguang"
        ping = bot.inbox("o-yangguang")[-1]["text"]
        assert ping.startswith(f"【就近派单 #{ticket}】") and "约274 米" in ping, ping
        log = admin.http.get("/admin/audit").text
        assert "ticket.dispatch_nearby" in log
    finally:
        bot.close()
