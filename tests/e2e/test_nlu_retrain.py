"""Admin edits an intent → gated retrain in the background → hot activation, with no failed parse in between.

Also: a worse model is rejected (the old one keeps answering) and a version can be rolled back.
"""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.settings import CONFIG
from tests.e2e.helpers import Api, wait_for

PIGEONS = """intent: report_pigeons
name: 鸽子扰民
ticket: {severity: normal}
keywords: [鸽子, 鸽棚]
examples: |
  - 楼顶有人养了好多鸽子 天天掉毛
  - [3号楼](building)顶上的鸽棚臭死了
  - 鸽子屎落得阳台上到处都是
  - 有人在天台私自搭鸽棚养鸽子
  - 楼上养的鸽子一大早咕咕叫
  - 鸽子飞来飞去 晾的衣服全是鸽子粪
  - 天台鸽棚招来好多苍蝇，能不能管管养鸽子的
  - 对面楼顶那一大群鸽子太扰民了
  - [阳光小区](location)有人天台养鸽子 臭气熏天
  - 鸽子把空调外机上拉满了屎
  - 养鸽子的把楼顶都占了
  - 鸽棚里的鸽子每天凌晨就开始叫
"""
PROBE = "楼顶养鸽子的又把鸽子放出来了，鸽子粪掉满阳台"
WAIT_S = 600


class Hammer(threading.Thread):
    """Parses continuously and counts HTTP statuses: any non-200 is a failed request."""

    def __init__(self, api: Api) -> None:
        super().__init__(daemon=True)
        self.api = api
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.statuses[self.api.http.post("/nlu/parse", json={"text": "#12 已处理"}).status_code] += 1
            except Exception as exc:  # a refused connection is a failed request too
                self.errors.append(repr(exc))


def finished_job(api: Api) -> Any:
    def done() -> Any:
        job = api.http.get("/nlu/train").json()
        return job if job["phase"] in ("active", "rejected", "failed") else None

    return wait_for(done, WAIT_S, "the training job to finish")


def bot_with_own_intents(bot_factory: Callable[..., Any], tmp_path: Path) -> tuple[Any, Path]:
    """A bot whose intent files are a scratch copy of the shipped ones (the test edits them)."""
    intents = tmp_path / "intents"
    shutil.copytree(CONFIG / "intents", intents)
    bot = bot_factory(GRIDBOT_INTENTS=str(intents), GRIDBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'nlu.db'}")
    bot.start(timeout_s=300)
    return bot, intents


@pytest.mark.slow
def test_edit_retrain_activate_reject_and_roll_back(bot_factory: Callable[..., Any], tmp_path: Path) -> None:
    bot, intents = bot_with_own_intents(bot_factory, tmp_path)
    api = Api(bot.url)
    first = api.http.get("/nlu/models").json()["active"]
    assert api.http.post("/nlu/parse", json={"text": PROBE}).json()["intent"] != "report_pigeons"

    hammer = Hammer(Api(bot.url))
    hammer.start()
    try:
        saved = api.http.put("/nlu/intents/report_pigeons", json={"yaml": PIGEONS})
        assert saved.status_code == 200, saved.text
        assert saved.json()["training"]["running"]
        assert api.http.post("/nlu/train").status_code == 409  # one job at a time
        job = finished_job(api)
        assert job["phase"] == "active", job
        assert job["verdict"]["passed"] and job["verdict"]["baseline"] is not None
        parsed = api.http.post("/nlu/parse", json={"text": PROBE}).json()
        assert parsed["intent"] == "report_pigeons", parsed
        second = api.http.get("/nlu/models").json()["active"]
        assert second != first

        # A harmful edit: chitchat keeps only 5 examples (the dialogue layer reads workers' words well enough
        # that thinning a worker intent no longer costs a point; chatter read as incidents does). The gate
        # rejects it, the old model stays.
        harmful = api.http.get("/nlu/intents/chitchat").json()["yaml"]
        head, _, block = harmful.partition("examples: |\n")
        kept = "".join(line + "\n" for line in block.splitlines()[:5])
        assert api.http.put("/nlu/intents/chitchat", json={"yaml": head + "examples: |\n" + kept}).status_code == 200
        job = finished_job(api)
        assert job["phase"] == "rejected", job
        assert "worse than the active model" in job["detail"]
        models = api.http.get("/nlu/models").json()
        assert models["active"] == second
        assert any(m["status"] == "rejected" and m["verdict"]["passed"] is False for m in models["models"])

        # Roll back to the first version: model, rules and intent files together.
        rolled = api.http.post(f"/nlu/models/{first}/activate", timeout=120)  # waits for Rasa to load the model
        assert rolled.status_code == 200, rolled.text
        assert api.http.post("/nlu/parse", json={"text": PROBE}).json()["intent"] != "report_pigeons"
        assert not (intents / "report_pigeons.yaml").exists()
    finally:
        hammer.stop.set()
        hammer.join(30)
    assert hammer.errors == [] and set(hammer.statuses) == {200}, (hammer.statuses, hammer.errors[:3])
    assert hammer.statuses[200] > 50


def test_invalid_intent_edits_are_refused_with_the_reason(bot_factory: Callable[..., Any], tmp_path: Path) -> None:
    bot, _ = bot_with_own_intents(bot_factory, tmp_path)
    api = Api(bot.url)
    bad = api.http.put("/nlu/intents/report_pigeons", json={"yaml": PIGEONS.replace("(building)", "(floor)")})
    assert bad.status_code == 422 and "report_pigeons.yaml" in bad.json()["error"]
    assert api.http.delete("/nlu/intents/worker_accept").status_code == 422
    assert api.http.get("/nlu/intents/nope").status_code == 404
    listed = {i["intent"]: i for i in api.http.get("/nlu/intents").json()["intents"]}
    assert listed["report_water"]["report"] and listed["report_water"]["name"] == "供排水"
    assert api.http.get("/nlu/train").json()["phase"] == "idle"
