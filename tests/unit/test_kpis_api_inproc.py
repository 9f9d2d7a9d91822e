"""`GET /api/v1/kpis` and the monthly bulletin carry the assessment figures of cases handled in the chat
(the in-process bot: real dispatcher, handlers, SQLite; the test's clock)."""

from pathlib import Path

from tests.inproc import InProcessBot

POLICY = str(Path(__file__).parents[1] / "e2e" / "conversations" / "policy.yml")


def test_a_month_of_dispatches_returns_and_ratings_gives_the_kpis_per_department_tier_and_grid(
    tmp_path: Path,
) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_POLICIES=POLICY)
    try:
        t1 = bot.say("yg-1", "张阿姨", "4号楼门口的下水道井盖没了 很危险")["replies"][0]["ticket_id"]
        bot.say("yg-1", "w-yg-1", f"#{t1} 收到")
        bot.say("yg-1", "o-xingfu", f"#{t1} 派 城管")
        bot.say("yg-1", "d-chengguan", f"#{t1} 退单 井盖属于排水设施")
        bot.say("yg-1", "o-xingfu", f"#{t1} 派 水务")
        bot.say("yg-1", "d-shuiwu", f"#{t1} 签收")
        bot.say("yg-1", "d-shuiwu", f"#{t1} 已处理 新井盖已装好")
        bot.say("yg-1", "张阿姨", "5分")
        t2 = bot.say("yg-2", "李叔", "6号楼楼上半夜装修 噪音吵得睡不着")["replies"][0]["ticket_id"]
        bot.say("yg-2", "w-yg-2", f"#{t2} 收到")
        assert bot.ticket(t1)["state"] == "closed" and bot.ticket(t2)["state"] == "accepted"

        body = bot.http.get("/kpis", params={"month": "2026-12"}).json()
        assert body["total"]["counts"]["due"] == 2 and body["total"]["closure_rate"] == 0.5
        departments = {d["id"]: d for d in body["departments"]}
        assert departments["chengguan"]["returns"] == 1 and departments["chengguan"]["name"] == "区城市管理局"
        assert (
            departments["shuiwu"]["counts"]["closed_on_time"] == 1 and departments["shuiwu"]["satisfaction_rate"] == 1
        )
        assert body["ranking"][0]["id"] == "shuiwu"
        assert {g["id"] for g in body["grids"]} == {"yg-1", "yg-2"}
        scoped = bot.http.get("/kpis", params={"month": "2026-12", "scope": "yg-2"}).json()
        assert scoped["total"]["counts"]["due"] == 1 and scoped["departments"] == []
        assert bot.http.get("/kpis", params={"month": "2026-13"}).status_code == 422
        assert bot.http.get("/kpis", params={"scope": "nowhere"}).status_code == 404

        made = bot.http.post("/bulletins", json={"month": "2026-12"}).json()["ids"]
        texts = [bot.http.get(f"/bulletins/{i}/text").text for i in made]
        assert any("职能部门考核排名" in t and "区水务局" in t and "推诿 1 次" in t for t in texts)
    finally:
        bot.close()
