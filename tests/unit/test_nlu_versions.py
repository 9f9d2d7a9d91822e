"""Only what the NLU gate accepted is ever served: a rejected change leaves config/intents, and
start-up serves an accepted version whatever the files on disk say. Rasa is not needed: training is
a stand-in that writes the model file, and the candidate and live stacks are the keyword rules of
the catalog under test (which the real gate judges the same way)."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.nlu import lifecycle, versions
from bot.nlu.catalog import Catalog, IntentFiles, catalog_hash, dump_intent, load_catalog
from bot.nlu.chain import FallbackNlu
from bot.nlu.lifecycle import NluConfig
from bot.nlu.rules import RulesNlu
from bot.nlu.training import Build, Progress, quiet
from bot.nlu.versions import ActivationHooks, ModelManager, Registry, VersionRecord
from config.settings import CONFIG
from tests.e2e.admin_client import ADMIN_PASSWORD, ADMIN_USER, AdminWeb
from tests.inproc import InProcessBot

# What the old string-built dump wrote when a display name carried a line break: chitchat became
# an urgent report (every greeting paged every tier up to the district).
INJECTED = "ticket: {severity: urgent}\n"
INJECTED_NAME = 'name: "闲聊\\nticket: {severity: urgent}"'
HELD_OUT = """text,label
大家早上好,chitchat
谢谢大家,chitchat
收到,chitchat
哈哈哈哈,chitchat
3号楼楼道里垃圾堆了好几天了,report_sanitation
5号楼楼下水管爆了 水漫出来了,report_water
东门的路灯坏了 晚上很黑,report_public_facility
"""


async def fake_train(build: Build, rasa_bin: Path, progress: Progress = quiet) -> float:
    build.model.write_bytes(b"a trained model")
    return 0.1


@pytest.fixture(autouse=True)
def no_rasa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "train", fake_train)
    monkeypatch.setattr(lifecycle, "train", fake_train)


@pytest.fixture
def intents(tmp_path: Path) -> Path:
    target = tmp_path / "intents"
    shutil.copytree(CONFIG / "intents", target)
    return target


def inject(intents: Path) -> None:
    path = intents / "chitchat.yaml"
    path.write_text(path.read_text(encoding="utf-8") + INJECTED, encoding="utf-8")
    assert load_catalog(intents).is_report("chitchat")  # valid YAML, a valid catalog: only the gate stops it


class Live:
    """The live stack and the hooks activation drives."""

    def __init__(self, catalog: Catalog) -> None:
        self.nlu = FallbackNlu(RulesNlu(catalog), RulesNlu(catalog), 0.0)
        self.loaded: list[Path] = []

    async def load_model(self, model: Path) -> None:
        self.loaded.append(model)

    async def candidate(self, model: Path, catalog: Catalog) -> tuple[Any, Callable[[], Awaitable[None]]]:
        async def stop() -> None:
            return None

        return RulesNlu(catalog), stop

    def hooks(self) -> ActivationHooks:
        return ActivationHooks(self.load_model, lambda c: self.nlu.use(RulesNlu(c)), self.candidate, self.nlu)


def manager(tmp_path: Path, intents: Path, live: Live) -> ModelManager:
    held_out = tmp_path / "held_out.csv"
    held_out.write_text(HELD_OUT, encoding="utf-8")
    registry = Registry(tmp_path / "var" / "nlu", tmp_path / "cache")
    return ModelManager(registry, intents, "tfidf_svm", tmp_path / "no-rasa", [held_out], live.hooks())


@pytest.fixture
def models(tmp_path: Path, intents: Path) -> ModelManager:
    """A model manager whose first run made the shipped intent files the active, accepted version."""
    return manager(tmp_path, intents, Live(load_catalog(intents)))


async def first_version(models: ModelManager) -> str:
    await models.retrain()
    active = models.registry.active()
    assert models.job.phase == "active" and active is not None, models.job.to_json()
    return active


async def test_a_rejected_change_puts_the_intent_files_back_as_they_were(models: ModelManager, intents: Path) -> None:
    first = await first_version(models)
    before = (intents / "chitchat.yaml").read_bytes()

    inject(intents)
    models.start()
    job = await models.wait()
    assert job.phase == "rejected", job.to_json()
    assert "restored to the active version" in job.detail
    assert (intents / "chitchat.yaml").read_bytes() == before  # a restart cannot pick the change up
    assert models.registry.accepted_version_of(intents) == first
    assert models.registry.active() == first and not models.live.live_nlu.catalog.is_report("chitchat")  # type: ignore[attr-defined]
    rejected = models.registry.get(job.version or "")
    assert rejected is not None and rejected.status == "rejected" and rejected.version != first
    assert models.registry.intents(rejected.version).joinpath("chitchat.yaml").read_text().endswith(INJECTED)
    assert models.registry.get(first).status == "active"  # type: ignore[union-attr]


async def test_a_change_the_model_never_sees_is_a_version_of_its_own_and_goes_live(
    models: ModelManager, intents: Path
) -> None:
    first = await first_version(models)
    water = load_catalog(intents).intents["report_water"]
    IntentFiles(intents).write("report_water", dump_intent(replace(water, name="供水排水")))
    models.start()
    assert (await models.wait()).phase == "active"
    second = models.registry.active()
    assert second not in (None, first)
    assert models.live.live_nlu.catalog.display_name("report_water") == "供水排水"  # type: ignore[attr-defined]
    assert models.registry.accepted_version_of(intents) == second


async def test_a_newer_edit_made_during_the_run_is_not_thrown_away(models: ModelManager, intents: Path) -> None:
    await first_version(models)
    inject(intents)
    judged = catalog_hash(intents)
    candidate = models.live.candidate_nlu

    async def edit_meanwhile(model: Path, catalog: Catalog) -> Any:
        water = intents / "report_water.yaml"
        water.write_text(water.read_text(encoding="utf-8").replace("供排水", "供水排水"), encoding="utf-8")
        return await candidate(model, catalog)

    models.live.candidate_nlu = edit_meanwhile
    models.start()
    assert (await models.wait()).phase == "rejected"
    assert catalog_hash(intents) != judged and "供水排水" in (intents / "report_water.yaml").read_text()


def config_of(tmp_path: Path, intents: Path, mode: str) -> NluConfig:
    return NluConfig(mode=mode, intents=intents, pipeline="tfidf_svm", model_cache=tmp_path / "cache",
                     rasa_bin=tmp_path / "no-rasa", var_dir=tmp_path / "var", test_data=(), threshold=0.45,
                     timeout_s=1.0, url="http://127.0.0.1:9")  # fmt: skip


def accept_shipped(tmp_path: Path, intents: Path, *, with_model: bool = True) -> str:
    """Record the shipped intent files as the active version, as a gated run leaves them."""
    registry = Registry(tmp_path / "var" / "nlu", tmp_path / "cache")
    version = "v-accepted"
    registry.snapshot(version, intents)
    registry.save(VersionRecord(version, "tfidf_svm", "2026-12-01T00:00:00+00:00", 100, status="active"))
    registry.set_active(version)
    if with_model:
        registry.model(version).parent.mkdir(parents=True, exist_ok=True)
        registry.model(version).write_bytes(b"model")
    return version


async def test_the_keyword_rules_alone_serve_only_an_accepted_version(tmp_path: Path, intents: Path) -> None:
    accept_shipped(tmp_path, intents, with_model=False)
    inject(intents)
    runtime = await lifecycle.start(config_of(tmp_path, intents, "rules"))
    assert not runtime.nlu.catalog.is_report("chitchat")
    parsed = await runtime.nlu.parse("大家早上好")
    assert parsed.intent == "chitchat" and not parsed.urgent


async def test_a_model_gone_from_the_cache_is_rebuilt_from_the_accepted_files_not_from_disk(
    tmp_path: Path, intents: Path
) -> None:
    accept_shipped(tmp_path, intents, with_model=False)
    inject(intents)
    parts = await lifecycle._start_parts(config_of(tmp_path, intents, "rasa"))
    try:
        assert not parts.catalog.is_report("chitchat")
        assert parts.pending  # the files on disk are judged by the gated retrain, not served
        registry = Registry(tmp_path / "var" / "nlu", tmp_path / "cache")
        active = registry.active()
        assert active is not None and registry.accepted_version_of(registry.intents(active)) == active
        assert not load_catalog(registry.intents(active)).is_report("chitchat")
    finally:
        await parts.rasa.aclose()


async def test_invalid_intent_files_on_disk_do_not_stop_the_accepted_version(tmp_path: Path, intents: Path) -> None:
    accept_shipped(tmp_path, intents)
    (intents / "report_water.yaml").write_text("intent: report_water\nname: 供排水\n", encoding="utf-8")
    parts = await lifecycle._start_parts(config_of(tmp_path, intents, "rasa"))
    try:
        assert parts.catalog.is_report("report_water") and not parts.pending
    finally:
        await parts.rasa.aclose()


def test_after_a_restart_a_greeting_pages_nobody(tmp_path: Path, intents: Path) -> None:
    """The reported case end to end: the injected file is on disk, the bot restarts, 大家早上好."""
    accept_shipped(tmp_path, intents, with_model=False)
    inject(intents)
    bot = InProcessBot(tmp_path, GRIDBOT_INTENTS=str(intents))
    try:
        said = bot.say("yg-1", "张阿姨", "大家早上好")
        assert said["replies"] == []
        assert bot.http.get("/tickets", params={"chat_id": "yg-1"}).json()["tickets"] == []
        assert bot.inbox("o-shifan") == [] and bot.inbox("w-yg-1") == []
    finally:
        bot.close()


def test_the_admin_is_told_a_name_must_be_one_line_and_nothing_is_written(tmp_path: Path, intents: Path) -> None:
    bot = InProcessBot(tmp_path, GRIDBOT_INTENTS=str(intents), GRIDBOT_ADMIN_USER=ADMIN_USER,
                       GRIDBOT_ADMIN_PASSWORD=ADMIN_PASSWORD)  # fmt: skip
    try:
        admin = AdminWeb("http://bot")
        admin.http = bot.client(headers={"Accept": "text/html"})
        assert admin.login().status_code == 303
        before = (intents / "chitchat.yaml").read_bytes()
        chitchat = load_catalog(intents).intents["chitchat"]
        form = {"name": "闲聊\nticket: {severity: urgent}", "description": chitchat.description, "op": "save",
                "examples": "\n".join(chitchat.examples), "keywords": "\n".join(chitchat.keywords)}  # fmt: skip
        refused = admin.post("/admin/intents/chitchat", form)
        assert refused.status_code == 422 and "只能是一行文字" in refused.text, refused.text[-2000:]
        api = bot.http.put("/nlu/intents/chitchat", json={"yaml": before.decode().replace("name: 闲聊", INJECTED_NAME)})
        assert api.status_code == 422 and "`name` must be one line" in api.json()["error"]
        assert (intents / "chitchat.yaml").read_bytes() == before
        assert bot.say("yg-1", "张阿姨", "大家早上好")["replies"] == []
    finally:
        bot.close()


async def test_activating_a_version_empties_the_parse_cache(tmp_path: Path, intents: Path) -> None:
    """Through the real activation path: what the old version read is never served by the new one."""
    live = Live(load_catalog(intents))
    models = manager(tmp_path, intents, live)
    first = await first_version(models)
    await live.nlu.parse("收到")
    assert (await live.nlu.parse("收到")) is not None and live.nlu.cache.hits == 1
    assert live.nlu.cache.figures()["entries"] == 1
    await models.activate(first)
    assert live.nlu.cache.figures()["entries"] == 0
    await live.nlu.parse("收到")
    assert live.nlu.cache.misses == 2  # read afresh by the version now active
